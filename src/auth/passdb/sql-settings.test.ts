import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { passdbSpecSchema } from '../config.js';
import type { ConfReader } from './dovecot-conf-file.js';
import { describeTarget, parseConninfo, parseConnect, type SqlServerTarget } from './sql-connect.js';
import { DEFAULT_PASSWORD_QUERY, resolveSqlSettings, sqlSettingsFromFile } from './sql-settings.js';

const reader = (map: Record<string, string>): ConfReader => (p) => map[p];

describe('sql settings', () => {
  it('reads a dovecot-sql.conf.ext, ignoring the userdb keys', () => {
    const s = sqlSettingsFromFile(
      '/etc/dovecot/dovecot-sql.conf.ext',
      reader({
        '/etc/dovecot/dovecot-sql.conf.ext': [
          'driver = mysql',
          'connect = host=localhost dbname=mails user=admin password=pass',
          'default_pass_scheme = SHA512-CRYPT',
          "password_query = SELECT username, domain, password FROM users WHERE username = '%n' AND domain = '%d'",
          "user_query = SELECT home, uid, gid FROM users WHERE username = '%n' AND domain = '%d'",
          'iterate_query = SELECT username AS user FROM users',
        ].join('\n'),
      }),
    );
    assert.deepEqual(s, {
      driver: 'mysql',
      connect: 'host=localhost dbname=mails user=admin password=pass',
      default_pass_scheme: 'SHA512-CRYPT',
      password_query: DEFAULT_PASSWORD_QUERY,
    });
  });
  it('fills Dovecot defaults: the default password_query and scheme MD5', () => {
    const s = sqlSettingsFromFile('/a', reader({ '/a': 'driver = sqlite\nconnect = /var/lib/users.db' }));
    assert.equal(s.password_query, DEFAULT_PASSWORD_QUERY);
    assert.equal(s.default_pass_scheme, 'MD5');
  });
  const bad: ReadonlyArray<[string, string, RegExp]> = [
    ['an unknown key', 'driver = sqlite\nconnect = /x\npasword_query = x', /\/a:3: unknown setting pasword_query/],
    ['no driver', 'connect = /x', /driver not set/],
    ['no connect', 'driver = sqlite', /connect string not set/],
    ['an unknown driver', 'driver = oracle\nconnect = x', /\/a:1: driver/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what}`, () => {
      assert.throws(() => sqlSettingsFromFile('/a', reader({ '/a': text })), (e: Error & { code?: string }) => e.code === 'AUTH_CONFIG' && message.test(e.message));
    });
  }
  it('takes either inline settings or args, relative to the config folder', () => {
    const inline = passdbSpecSchema.parse({ driver: 'sql', sql: { driver: 'sqlite', connect: 'users.db' } });
    assert.equal(resolveSqlSettings(inline, reader({})).connect, 'users.db');
    const file = passdbSpecSchema.parse({ driver: 'sql', args: 'sql.conf' });
    assert.equal(resolveSqlSettings(file, reader({ '/cfg/sql.conf': 'driver = sqlite\nconnect = u.db' }), '/cfg').driver, 'sqlite');
    assert.throws(() => resolveSqlSettings(file, reader({})), { code: 'AUTH_CONFIG' });
  });
  it('the passdb schema checks the sql: object strictly', () => {
    const issues = (v: unknown) => passdbSpecSchema.safeParse(v).error?.issues.map((i) => i.path.join('.')) ?? [];
    assert.deepEqual(issues({ driver: 'sql' }), ['sql']);
    assert.deepEqual(issues({ driver: 'sql', args: '/x', sql: { driver: 'sqlite', connect: '/y' } }), ['sql']);
    assert.deepEqual(issues({ driver: 'static', sql: { driver: 'sqlite', connect: '/y' } }), ['sql']);
    assert.deepEqual(issues({ driver: 'sql', sql: { driver: 'sqlite', connect: '/y', user_query: 'x' } }), ['sql']);
    assert.deepEqual(issues({ driver: 'sql', sql: { driver: 'oracle', connect: '/y' } }), ['sql.driver']);
    assert.deepEqual(issues({ driver: 'sql', sql: { driver: 'pgsql', connect: 'host=x' }, default_fields: 'port=10143' }), []);
  });
});

describe('sql connect strings', () => {
  it('libpq conninfo: quotes, escapes and blanks around =', () => {
    assert.deepEqual(parseConninfo("host=a  password = 'it\\'s a \\\\ pw' dbname=x\\ y"), [
      ['host', 'a'],
      ['password', "it's a \\ pw"],
      ['dbname', 'x y'],
    ]);
  });
  it('pgsql: several host= fail over in order, with the shared keywords', () => {
    const t = parseConnect('pgsql', 'host=db1 host=/run/postgresql dbname=mail user=postern password=s3cret port=5433 maxconns=3 connect_timeout=2') as SqlServerTarget;
    assert.deepEqual(t.hosts, [
      { host: 'db1', port: 5433, label: 'db1:5433' },
      { host: '/run/postgresql', port: 5433, label: '/run/postgresql' },
    ]);
    assert.equal(t.maxConns, 3);
    assert.equal(t.connectTimeoutMs, 2000);
    assert.equal(t.password?.reveal(), 's3cret');
    assert.equal(JSON.stringify(t).includes('s3cret'), false, 'the password never serializes');
    assert.equal(describeTarget(t), 'pgsql db1:5433,/run/postgresql/mail');
  });
  it('pgsql: libpq host lists and sslmode', () => {
    const t = parseConnect('pgsql', 'host=a,b port=1,2 sslmode=verify-full sslrootcert=/ca.pem') as SqlServerTarget;
    assert.deepEqual(t.hosts.map((h) => h.label), ['a:1', 'b:2']);
    assert.deepEqual(t.tls, { verify: true, verifyName: true, caFile: '/ca.pem' });
    assert.equal((parseConnect('pgsql', 'host=a') as SqlServerTarget).tls, undefined);
  });
  it('mysql: Dovecot keywords, sockets, TLS with ssl_ca', () => {
    const t = parseConnect('mysql', 'host=db1 host=/run/mysqld/mysqld.sock dbname=mail user=u password=p port=3307 ssl_ca=/ca.pem read_timeout=7') as SqlServerTarget;
    assert.deepEqual(t.hosts, [
      { host: 'db1', port: 3307, label: 'db1:3307' },
      { host: '/run/mysqld/mysqld.sock', label: '/run/mysqld/mysqld.sock' },
    ]);
    assert.equal(t.queryTimeoutMs, 7000);
    assert.deepEqual(t.tls, { verify: true, verifyName: true, caFile: '/ca.pem' });
  });
  it('sqlite: the path, relative to the config folder', () => {
    assert.deepEqual(parseConnect('sqlite', '/var/lib/u.db'), { driver: 'sqlite', path: '/var/lib/u.db' });
    assert.deepEqual(parseConnect('sqlite', 'u.db', '/etc/postern'), { driver: 'sqlite', path: '/etc/postern/u.db' });
  });
  const bad: ReadonlyArray<[Parameters<typeof parseConnect>[0], string]> = [
    ['pgsql', 'host=a nosuch=1'],
    ['pgsql', 'host=a port=x'],
    ['pgsql', "host='a"],
    ['pgsql', 'host'],
    ['pgsql', 'host=a sslmode=sometimes'],
    ['mysql', 'dbname=x'],
    ['mysql', 'host=a option_file=/etc/my.cnf'],
    ['mysql', 'host=a port'],
    ['mysql', 'host=a ssl_verify_server_cert=maybe'],
    ['sqlite', 'relative.db'],
  ];
  for (const [driver, connect] of bad) {
    it(`refuses ${driver} ${JSON.stringify(connect)}`, () => assert.throws(() => parseConnect(driver, connect), { code: 'AUTH_CONFIG' }));
  }
});
