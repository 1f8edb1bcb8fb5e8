// The sql passdb against real PostgreSQL and MariaDB servers started here: Dovecot's documented proxy
// queries run verbatim, hostile login names, escaping checked by the servers themselves, failover,
// an unreachable database and an outage with reconnect.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createAuthenticator, makeAuthRequest, passdbSpecSchema, type AuthLogger, type AuthResult, type PassdbSpecInput } from '../../src/auth/index.js';
import { freePort, skipSuite } from './harness/index.js';
import { mariadbSkipReason, startMariadb, type MariadbInstance } from './harness/mariadb.js';
import { postgresSkipReason, startPostgres, type PostgresInstance } from './harness/postgres.js';

// Dovecot's proxy documentation, verbatim.
const Q_PROXY = "SELECT NULL AS password, 'Y' as nopassword, host, destuser, 'Y' AS proxy FROM proxy WHERE user = '%u'";
const Q_USERS = "SELECT concat(user, '@', domain) AS user, password, host, 'Y' AS proxy_maybe FROM users WHERE user = '%n' AND domain = '%d'";
const Q_NOLOGIN = "SELECT NULL AS password, host, destuser, 'Y' AS nologin, 'Y' AS nodelay, 'Y' AS proxy, 'Y' AS nopassword FROM proxy WHERE user = '%u'";
// The older "IMAP and POP3 session proxying" page: a PostgreSQL set-returning function.
const Q_FUNCTION = "SELECT * FROM domain_mapping('%u')";
// The same proxy lookup with the variables inside a larger string: escaped, not bound.
const Q_ESCAPED = "SELECT NULL AS password, 'Y' as nopassword, host, destuser, 'Y' AS proxy FROM proxy WHERE user = '%n@%d'";
// PostgreSQL spells the column "user": unquoted, user is CURRENT_USER there.
const pgQuoted = (q: string) => q.replace(/\buser = /, '"user" = ').replace('concat(user,', 'concat("user",');

const HOSTILE = ["x' OR '1'='1", "alice@example.com' OR '1'='1", "' OR 1=1 -- ", "alice@example.com' -- ", '%', '%u', '\\', "\\' OR 1=1 #", "alice@example.com\\' OR 1=1 -- ", 'alice@example.com\0', 'a'.repeat(300 * 1024)];
// Values that must come back unchanged through an escaped literal.
const TRICKY = ["it's", "''", '"', '\\', "\\'", '%', '%%u', '$$', 'é ü 日本', '😀', 'a\nb', 'a\rb', '\x1a', ' x '];

// passwordVerified: false where nopassword (or a NULL password with proxy) let the login through unchecked.
const ALICE = { kind: 'ok', user: 'alice@example.com', fields: { host: '10.0.0.1', destuser: 'alice', proxy: 'Y' }, passwordVerified: false };
const CAROL = { kind: 'ok', user: 'carol@example.com', fields: { host: '10.0.0.3', proxy_maybe: 'Y' }, passwordVerified: true };
const ALICE_NOLOGIN = { kind: 'ok', user: 'alice@example.com', fields: { host: '10.0.0.1', destuser: 'alice', nologin: 'Y', nodelay: 'Y', proxy: 'Y' }, passwordVerified: false };
const UNKNOWN = { kind: 'fail', reason: 'userUnknown', fields: {} };

interface Captured {
  log: AuthLogger;
  lines: string[];
}
function captureLog(): Captured {
  const lines: string[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  const log: AuthLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return { log, lines };
}

type Driver = 'pgsql' | 'mysql';
const authFor = (driver: Driver, connect: string, query: string, captured?: Captured, extra: Partial<PassdbSpecInput> = {}) =>
  createAuthenticator([passdbSpecSchema.parse({ driver: 'sql', sql: { driver, connect, password_query: query }, ...extra })], captured ? { log: captured.log } : {});

async function login(driver: Driver, connect: string, query: string, user: string, password = 'pw', captured?: Captured): Promise<AuthResult> {
  const a = authFor(driver, connect, query, captured);
  try {
    return await a.authenticate(makeAuthRequest({ user, password }));
  } finally {
    await a.close();
  }
}

async function assertHostile(driver: Driver, connect: string, queries: readonly string[]): Promise<void> {
  for (const q of queries) {
    const a = authFor(driver, connect, q);
    try {
      for (const user of HOSTILE) {
        const r = await a.authenticate(makeAuthRequest({ user, password: 'pw' }));
        assert.deepEqual(r, UNKNOWN, `${q}: ${JSON.stringify(user).slice(0, 60)}`);
      }
    } finally {
      await a.close();
    }
  }
}

/** Echo queries: each value must come back exactly as sent, or be refused as a whole. */
async function echo(driver: Driver, connect: string, query: string, values: readonly string[]): Promise<Map<string, string | undefined>> {
  const a = authFor(driver, connect, query);
  const out = new Map<string, string | undefined>();
  try {
    for (const v of values) {
      const r = await a.authenticate(makeAuthRequest({ user: v, password: 'pw' }));
      out.set(v, r.kind === 'ok' ? r.fields['echo'] : undefined);
      if (r.kind !== 'ok') assert.deepEqual(r, UNKNOWN, JSON.stringify(v));
    }
  } finally {
    await a.close();
  }
  return out;
}

async function assertOutageAndFailover(driver: Driver, server: PostgresInstance | MariadbInstance, query: string): Promise<void> {
  const dead = await freePort();
  const connect = (hosts: string, port: number) => `${hosts} port=${port} dbname=${server.database} user=${server.user} password=${server.password}`;

  // Unreachable: a temporary failure, logged without the database or user password.
  const c1 = captureLog();
  assert.equal((await login(driver, connect('host=127.0.0.1', dead), query, 'alice@example.com', 'user-secret', c1)).kind, 'tempFail');
  assert.ok(c1.lines.some((l) => l.startsWith('error sql: password query failed: 127.0.0.1:')), c1.lines.join('\n'));
  assert.ok(!c1.lines.some((l) => l.includes(server.password) || l.includes('user-secret')), c1.lines.join('\n'));

  // Failover: the first host refuses (nothing listens on 127.0.0.2), the second answers.
  const c2 = captureLog();
  assert.deepEqual(await login(driver, connect('host=127.0.0.2 host=127.0.0.1', server.port), query, 'alice@example.com', 'pw', c2), ALICE);
  assert.ok(c2.lines.some((l) => /^warn sql: 127\.0\.0\.2:\d+: .*trying the next host/.test(l)), c2.lines.join('\n'));

  // An outage: the same passdb answers tempFail while the server is down, and reconnects after.
  const a = authFor(driver, server.connect, query);
  const req = makeAuthRequest({ user: 'alice@example.com', password: 'pw' });
  try {
    assert.deepEqual(await a.authenticate(req), ALICE);
    await server.stop();
    assert.equal((await a.authenticate(req)).kind, 'tempFail');
    await server.start();
    assert.deepEqual(await a.authenticate(req), ALICE);
  } finally {
    await a.close();
  }
}

const PG_SCHEMA = `
  CREATE TABLE proxy ("user" text PRIMARY KEY, host text, destuser text);
  INSERT INTO proxy VALUES ('alice@example.com', '10.0.0.1', 'alice'), ('bob@example.com', '10.0.0.2', NULL);
  CREATE TABLE users ("user" text, domain text, password text, host text);
  INSERT INTO users VALUES ('carol', 'example.com', '{PLAIN}secret', '10.0.0.3'), ('dan', 'example.com', '{PLAIN}dan', '10.0.0.4');
  CREATE TABLE domains (domain text PRIMARY KEY, host text);
  INSERT INTO domains VALUES ('example.com', '10.1.0.1'), ('example.org', '10.1.0.2');
  CREATE FUNCTION domain_mapping(login varchar)
    RETURNS TABLE (password text, host text, proxy text, nologin text, nodelay text)
    LANGUAGE plpgsql STABLE AS $fn$
  BEGIN
    RETURN QUERY SELECT NULL::text, d.host, 'Y'::text, 'Y'::text, 'Y'::text
      FROM domains d WHERE d.domain = lower(split_part(login, '@', 2));
  END $fn$;
  GRANT SELECT ON ALL TABLES IN SCHEMA public TO postern;
`;

const pgSkip = skipSuite('sql passdb on PostgreSQL', postgresSkipReason());

describe('sql passdb on PostgreSQL', { skip: pgSkip, timeout: 180_000 }, () => {
  let pg: PostgresInstance;
  const run = (q: string, user: string, password = 'pw', c?: Captured) => login('pgsql', pg.connect, q, user, password, c);
  before(async () => {
    pg = await startPostgres();
    await pg.admin(PG_SCHEMA);
  });
  after(async () => {
    await pg?.destroy();
  });

  it("Dovecot's queries run verbatim; PostgreSQL reads their unquoted user as CURRENT_USER, and postern warns", async () => {
    const c = captureLog();
    // The login role is "postern": no mail user matches CURRENT_USER...
    assert.deepEqual(await run(Q_PROXY, 'alice@example.com', 'pw', c), UNKNOWN);
    assert.ok(c.lines.some((l) => l.startsWith('warn') && l.includes('CURRENT_USER')), c.lines.join('\n'));
    assert.deepEqual(await run(Q_NOLOGIN, 'alice@example.com'), UNKNOWN);
    assert.deepEqual(await run(Q_USERS, 'carol@example.com', 'secret'), UNKNOWN);
    // ...and a login named like the role matches every row: refused as "multiple matches", never someone's row.
    assert.equal((await run(Q_PROXY, 'postern')).kind, 'tempFail');
    assert.equal((await run(Q_USERS, 'postern@example.com', 'secret')).kind, 'tempFail');
  });
  it('with "user" quoted they give exactly the fields Dovecot would', async () => {
    assert.deepEqual(await run(pgQuoted(Q_PROXY), 'alice@example.com'), ALICE);
    assert.deepEqual(await run(pgQuoted(Q_PROXY), 'bob@example.com'), { kind: 'ok', user: 'bob@example.com', fields: { host: '10.0.0.2', proxy: 'Y' }, passwordVerified: false });
    assert.deepEqual(await run(pgQuoted(Q_USERS), 'carol@example.com', 'secret'), CAROL);
    assert.deepEqual(await run(pgQuoted(Q_USERS), 'carol@example.com', 'wrong'), { kind: 'fail', reason: 'passwordMismatch', fields: {} });
    assert.deepEqual(await run(pgQuoted(Q_NOLOGIN), 'alice@example.com'), ALICE_NOLOGIN);
    assert.deepEqual(await run(pgQuoted(Q_PROXY), 'nobody@example.com'), UNKNOWN);
  });
  it('the set-returning function: NULL password, proxy, nologin and nodelay; the backend checks the password', async () => {
    assert.deepEqual(await run(Q_FUNCTION, 'zoe@example.org', 'anything'), {
      kind: 'ok',
      user: 'zoe@example.org',
      fields: { host: '10.1.0.2', proxy: 'Y', nologin: 'Y', nodelay: 'Y' },
      passwordVerified: false,
    });
    assert.deepEqual(await run(Q_FUNCTION, 'zoe@example.net'), UNKNOWN);
  });
  it('hostile names get a clean unknown user', async () => {
    await assertHostile('pgsql', pg.connect, [pgQuoted(Q_PROXY), pgQuoted(Q_USERS), pgQuoted(Q_ESCAPED), Q_FUNCTION]);
  });
  it('escaped values come back unchanged; a backslash is refused in a standard string, kept in E strings', async () => {
    const std = await echo('pgsql', pg.connect, "SELECT NULL AS password, 'Y' AS nopassword, 'v:%u' AS echo", TRICKY);
    const e = await echo('pgsql', pg.connect, "SELECT NULL AS password, 'Y' AS nopassword, E'v:%u' AS echo", TRICKY);
    for (const v of TRICKY) {
      assert.equal(std.get(v), v.includes('\\') ? undefined : `v:${v}`, JSON.stringify(v));
      assert.equal(e.get(v), `v:${v}`, JSON.stringify(v));
    }
  });
  it('unreachable, failover to the next host, outage and reconnect', async () => {
    await assertOutageAndFailover('pgsql', pg, pgQuoted(Q_PROXY));
  });
});

const MY_SCHEMA = `
  CREATE TABLE proxy (user VARCHAR(255) PRIMARY KEY, host VARCHAR(255), destuser VARCHAR(255));
  INSERT INTO proxy VALUES ('alice@example.com', '10.0.0.1', 'alice'), ('bob@example.com', '10.0.0.2', NULL);
  CREATE TABLE users (user VARCHAR(64), domain VARCHAR(255), password VARCHAR(255), host VARCHAR(255));
  INSERT INTO users VALUES ('carol', 'example.com', '{PLAIN}secret', '10.0.0.3'),
    ('twin', 'example.com', '{PLAIN}a', 'h1'), ('twin', 'example.com', '{PLAIN}b', 'h2');
`;

const mySkip = skipSuite('sql passdb on MariaDB', mariadbSkipReason());

describe('sql passdb on MariaDB', { skip: mySkip, timeout: 180_000 }, () => {
  let my: MariadbInstance;
  const run = (q: string, user: string, password = 'pw') => login('mysql', my.connect, q, user, password);
  before(async () => {
    my = await startMariadb();
    await my.admin(MY_SCHEMA);
  });
  after(async () => {
    await my?.destroy();
  });

  it("Dovecot's queries, verbatim, give exactly Dovecot's fields", async () => {
    assert.deepEqual(await run(Q_PROXY, 'alice@example.com'), ALICE);
    assert.deepEqual(await run(Q_PROXY, 'bob@example.com'), { kind: 'ok', user: 'bob@example.com', fields: { host: '10.0.0.2', proxy: 'Y' }, passwordVerified: false });
    assert.deepEqual(await run(Q_USERS, 'carol@example.com', 'secret'), CAROL);
    assert.deepEqual(await run(Q_USERS, 'carol@example.com', 'wrong'), { kind: 'fail', reason: 'passwordMismatch', fields: {} });
    assert.deepEqual(await run(Q_NOLOGIN, 'alice@example.com'), ALICE_NOLOGIN);
    assert.deepEqual(await run(Q_PROXY, 'nobody@example.com'), UNKNOWN);
    assert.equal((await run(Q_USERS, 'twin@example.com', 'a')).kind, 'tempFail', 'multiple matches');
  });
  for (const mode of ['default sql_mode', 'NO_BACKSLASH_ESCAPES']) {
    it(`hostile names get a clean unknown user; escaped values survive (${mode})`, async () => {
      if (mode !== 'default sql_mode') await my.admin("SET GLOBAL sql_mode = CONCAT(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES')");
      try {
        await assertHostile('mysql', my.connect, [Q_PROXY, Q_USERS, Q_ESCAPED]);
        const single = await echo('mysql', my.connect, "SELECT NULL AS password, 'Y' AS nopassword, 'v:%u' AS echo", TRICKY);
        const double = await echo('mysql', my.connect, 'SELECT NULL AS password, \'Y\' AS nopassword, "v:%u" AS echo', TRICKY);
        // Proof the mode is on: the server kept both backslashes of an escaped one.
        if (mode !== 'default sql_mode') assert.equal(single.get('\\'), 'v:\\\\');
        for (const v of TRICKY) {
          // Without backslash escapes the server keeps our backslashes: a value can change, never escape.
          const exact = mode === 'default sql_mode' || !/[\\\n\r\x1a'"]/.test(v);
          for (const got of [single.get(v), double.get(v)]) {
            if (exact) assert.equal(got, `v:${v}`, JSON.stringify(v));
            else assert.ok(got?.startsWith('v:'), JSON.stringify(v));
          }
        }
      } finally {
        await my.admin("SET GLOBAL sql_mode = REPLACE(@@GLOBAL.sql_mode, ',NO_BACKSLASH_ESCAPES', '')");
      }
    });
  }
  it('unreachable, failover to the next host, outage and reconnect', async () => {
    await assertOutageAndFailover('mysql', my, Q_PROXY);
  });
});
