import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createAuthenticator } from '../authenticator.js';
import { passdbSpecSchema, type PassdbSpecInput } from '../config.js';
import type { AuthDeps, AuthLogger } from '../deps.js';
import { makeAuthRequest } from '../testing.js';
import type { AuthResult } from '../types.js';
import { createPassdb } from './registry.js';
import { rowsToResult } from './sql.js';

// Dovecot's documented proxy queries, verbatim.
const Q_PROXY = "SELECT NULL AS password, 'Y' as nopassword, host, destuser, 'Y' AS proxy FROM proxy WHERE user = '%u'";
const Q_USERS = "SELECT concat(user, '@', domain) AS user, password, host, 'Y' AS proxy_maybe FROM users WHERE user = '%n' AND domain = '%d'";
const Q_NOLOGIN = "SELECT NULL AS password, host, destuser, 'Y' AS nologin, 'Y' AS nodelay, 'Y' AS proxy, 'Y' AS nopassword FROM proxy WHERE user = '%u'";
// The same lookup with the variable inside a larger string: values are escaped, not bound.
const Q_ESCAPED = "SELECT NULL AS password, 'Y' as nopassword, host, destuser, 'Y' AS proxy FROM proxy WHERE user = '%n@%d'";

const HOSTILE_USERS: readonly string[] = [
  "x' OR '1'='1",
  "alice@example.com' OR '1'='1",
  "' OR 1=1 -- ",
  "alice@example.com' -- ",
  '%',
  '%u',
  '\\',
  "\\' OR 1=1 #",
  'alice@example.com\0',
  'alice@example.com\n',
  'a'.repeat(300 * 1024),
];

interface LogLine {
  level: string;
  msg: string;
}

function captureLog(): { log: AuthLogger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const at = (level: string) => (_obj: object, msg?: string) => void lines.push({ level, msg: msg ?? '' });
  const log: AuthLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return { log, lines };
}

const md5 = (s: string) => createHash('md5').update(s).digest('hex');

describe('sql passdb on SQLite', () => {
  let dir: string;
  let dbPath: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'postern-sql-'));
    dbPath = join(dir, 'users.db');
    const db = new Database(dbPath);
    db.exec(`
      CREATE TABLE proxy (user TEXT PRIMARY KEY, host TEXT, destuser TEXT);
      INSERT INTO proxy VALUES ('alice@example.com', '10.0.0.1', 'alice'), ('bob@example.com', '10.0.0.2', NULL);
      CREATE TABLE users (user TEXT, domain TEXT, password TEXT, host TEXT);
      INSERT INTO users VALUES ('carol', 'example.com', '{PLAIN}secret', '10.0.0.3'), ('dave', 'example.com', '${md5('pw')}', '10.0.0.4'),
        ('twin', 'example.com', '{PLAIN}a', 'h1'), ('twin', 'example.com', '{PLAIN}b', 'h2');
    `);
    db.close();
    writeFileSync(join(dir, 'dovecot-sql.conf.ext'), `driver = sqlite\nconnect = users.db\npassword_query = ${Q_PROXY}\n`);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const auth = (sql: Partial<NonNullable<PassdbSpecInput['sql']>>, extra: Partial<PassdbSpecInput> = {}, deps: AuthDeps = {}) =>
    createAuthenticator([passdbSpecSchema.parse({ driver: 'sql', sql: { driver: 'sqlite', connect: dbPath, ...sql }, ...extra })], deps);
  const login = async (sql: Partial<NonNullable<PassdbSpecInput['sql']>>, user: string, password = 'whatever', extra: Partial<PassdbSpecInput> = {}): Promise<AuthResult> => {
    const a = auth(sql, extra);
    try {
      return await a.authenticate(makeAuthRequest({ user, password }));
    } finally {
      await a.close();
    }
  };

  it('proxy query: NULL password with nopassword, NULL columns skipped', async () => {
    assert.deepEqual(await login({ password_query: Q_PROXY }, 'alice@example.com'), {
      kind: 'ok',
      user: 'alice@example.com',
      fields: { host: '10.0.0.1', destuser: 'alice', proxy: 'Y' },
      passwordVerified: false,
    });
    assert.deepEqual(await login({ password_query: Q_PROXY }, 'bob@example.com'), {
      kind: 'ok',
      user: 'bob@example.com',
      fields: { host: '10.0.0.2', proxy: 'Y' },
      passwordVerified: false,
    });
    assert.deepEqual(await login({ password_query: Q_PROXY }, 'nobody@example.com'), { kind: 'fail', reason: 'userUnknown', fields: {} });
  });
  it('users query: concat() renames the user, the password is checked', async () => {
    assert.deepEqual(await login({ password_query: Q_USERS }, 'carol@example.com', 'secret'), {
      kind: 'ok',
      user: 'carol@example.com',
      fields: { host: '10.0.0.3', proxy_maybe: 'Y' },
      passwordVerified: true,
    });
    assert.deepEqual(await login({ password_query: Q_USERS }, 'carol@example.com', 'wrong'), { kind: 'fail', reason: 'passwordMismatch', fields: {} });
  });
  it('bare hashes use default_pass_scheme', async () => {
    const q = { password_query: Q_USERS, default_pass_scheme: 'PLAIN-MD5' };
    assert.equal((await login(q, 'dave@example.com', 'pw')).kind, 'ok');
    assert.deepEqual(await login(q, 'dave@example.com', 'nope'), { kind: 'fail', reason: 'passwordMismatch', fields: {} });
  });
  it('nologin query: every field, nopassword consumed', async () => {
    assert.deepEqual(await login({ password_query: Q_NOLOGIN }, 'alice@example.com'), {
      kind: 'ok',
      user: 'alice@example.com',
      fields: { host: '10.0.0.1', destuser: 'alice', nologin: 'Y', nodelay: 'Y', proxy: 'Y' },
      passwordVerified: false,
    });
  });
  it('default_fields and override_fields wrap the row', async () => {
    const r = await login({ password_query: Q_PROXY }, 'bob@example.com', 'x', { default_fields: 'port=10143 destuser=%n', override_fields: 'host=10.9.9.9' });
    assert.deepEqual(r, { kind: 'ok', user: 'bob@example.com', fields: { port: '10143', destuser: 'bob', host: '10.9.9.9', proxy: 'Y' }, passwordVerified: false });
  });
  for (const [what, query] of [['bound', Q_PROXY], ['escaped', Q_ESCAPED], ['users', Q_USERS]] as const) {
    it(`hostile names get a clean unknown user (${what} query)`, async () => {
      const a = auth({ password_query: query });
      try {
        for (const user of HOSTILE_USERS) {
          const r = await a.authenticate(makeAuthRequest({ user, password: 'x' }));
          assert.deepEqual(r, { kind: 'fail', reason: 'userUnknown', fields: {} }, JSON.stringify(user).slice(0, 60));
        }
      } finally {
        await a.close();
      }
    });
  }
  it('several rows are an internal failure, as Dovecot ("returned multiple matches")', async () => {
    const { log, lines } = captureLog();
    const a = auth({ password_query: Q_USERS }, {}, { log });
    const r = await a.authenticate(makeAuthRequest({ user: 'twin@example.com', password: 'a' }));
    await a.close();
    assert.equal(r.kind, 'tempFail');
    assert.ok(lines.some((l) => l.level === 'error' && /multiple matches/.test(l.msg)));
  });
  it('a query without a password column, or broken SQL, is a temporary failure', async () => {
    for (const q of ["SELECT host FROM proxy WHERE user = '%u'", "SELECT password FROM nosuchtable WHERE user = '%u'"]) {
      assert.equal((await login({ password_query: q }, 'alice@example.com')).kind, 'tempFail', q);
    }
  });
  it('a missing file is a temporary failure, and the next lookup opens it once it is there', async () => {
    const path = join(dir, 'later.db');
    const { log, lines } = captureLog();
    const a = auth({ connect: path, password_query: Q_PROXY }, {}, { log });
    const req = makeAuthRequest({ user: 'alice@example.com', password: 'pw' });
    const first = await a.authenticate(req);
    assert.equal(first.kind, 'tempFail');
    assert.ok(lines.some((l) => l.level === 'error' && l.msg.includes(path)));
    const db = new Database(path);
    db.exec("CREATE TABLE proxy (user TEXT, host TEXT, destuser TEXT); INSERT INTO proxy VALUES ('alice@example.com', 'h', 'a')");
    db.close();
    assert.equal((await a.authenticate(req)).kind, 'ok');
    await a.close();
    await a.close();
  });
  it('args names a dovecot-sql.conf.ext, read as it is, relative to the config folder', async () => {
    const a = createAuthenticator([passdbSpecSchema.parse({ driver: 'sql', args: 'dovecot-sql.conf.ext' })], { baseDir: dir });
    const r = await a.authenticate(makeAuthRequest({ user: 'alice@example.com', password: 'x' }));
    await a.close();
    assert.deepEqual(r, { kind: 'ok', user: 'alice@example.com', fields: { host: '10.0.0.1', destuser: 'alice', proxy: 'Y' }, passwordVerified: false });
  });
  it('bad settings fail at start, with AUTH_CONFIG', () => {
    const bad: PassdbSpecInput[] = [
      { driver: 'sql', sql: { driver: 'sqlite', connect: dbPath, password_query: "SELECT password FROM t WHERE u = '%x'" } },
      { driver: 'sql', sql: { driver: 'pgsql', connect: 'host=a bogus=1' } },
      { driver: 'sql', args: join(dir, 'missing.conf.ext') },
    ];
    for (const spec of bad) assert.throws(() => createPassdb(passdbSpecSchema.parse(spec), {}), { code: 'AUTH_CONFIG' }, JSON.stringify(spec));
  });
  it('a lookup after close() is a temporary failure', async () => {
    const p = createPassdb(passdbSpecSchema.parse({ driver: 'sql', sql: { driver: 'sqlite', connect: dbPath, password_query: Q_PROXY } }), {});
    await p.close();
    assert.equal((await p.lookup(makeAuthRequest())).kind, 'tempFail');
  });
});

describe('sql rows to a passdb result (passdb-sql.c)', () => {
  it('maps columns as Dovecot does', () => {
    const cols = ['user', 'password', '', 'host', 'userdb_home', 'password'];
    assert.deepEqual(rowsToResult({ columns: cols, rows: [['a@b', 'hash', 'x', null, '/h', '{PLAIN}second']] }, 'SHA'), {
      kind: 'found',
      password: '{SHA}hash',
      fields: { user: 'a@b', userdb_home: '/h' },
    });
    assert.deepEqual(rowsToResult({ columns: ['password_noscheme'], rows: [['{not-a-scheme}']] }, 'PLAIN'), {
      kind: 'found',
      password: '{PLAIN}{not-a-scheme}',
      fields: {},
    });
    assert.deepEqual(rowsToResult({ columns: ['password', '__proto__'], rows: [['{PLAIN}x', 'y']] }, 'PLAIN'), { kind: 'found', password: '{PLAIN}x', fields: {} });
    assert.deepEqual(rowsToResult({ columns: ['password'], rows: [] }, 'PLAIN'), { kind: 'userUnknown' });
    assert.equal(rowsToResult({ columns: ['host'], rows: [['h']] }, 'PLAIN').kind, 'tempFail');
    assert.equal(rowsToResult({ columns: ['password'], rows: [['a'], ['b']] }, 'PLAIN').kind, 'tempFail');
  });
});
