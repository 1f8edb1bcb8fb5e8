// The ldap passdb against a real OpenLDAP slapd started here: password lookups with pass_attrs, auth_bind,
// hostile user names, failover, restart, StartTLS, ldaps:// and ldapi://, a dovecot-ldap.conf.ext read as it is.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createAuthenticator,
  createPassdb,
  getScheme,
  makeAuthRequest,
  passdbSpecSchema,
  type AuthLogger,
  type LdapSettingsInput,
  type Passdb,
  type PassdbResult,
} from '../../src/auth/index.js';
import { freePort, getTestCerts, makeTempDir, pollUntil, skipSuite, type TestCerts } from './harness/index.js';
import { slapdSkipReason, startSlapd, type SlapdInstance } from './harness/slapd.js';
import { ACL, PEOPLE, SERVICE_DN, SERVICE_PW, SUFFIX, WEIRD_UID, tree } from '../support/ldap-tree.js';

const skip = skipSuite('ldap passdb', slapdSkipReason());

const HOSTILE_NAMES = [
  '*', 'a*', '*)(uid=*', ')(uid=*', 'alice)(uid=*', 'alice)(|(uid=*', '*)(|(objectClass=*',
  'alice\\', '\\', '\\2a', 'alice\\29', 'alice\0', '\0', 'alice\0)(uid=*', '(', ')', 'alice)',
  'uid=alice', 'alice,ou=people', `alice,${PEOPLE}`, 'ALICE*', 'al*ce', '#alice', 'alice+cn=alice',
];
// Not on the list: ' alice' and 'ALICE' do find alice. uid's matching rule (caseIgnoreMatch, RFC 4518
// preparation) folds case and surrounding spaces; that is the directory's equality, not an injection, and
// Dovecot's escaping gives the same. The password is still checked, and `uid=user` renames to "alice".

interface Captured {
  lines: string[];
  log: AuthLogger;
}

function capture(): Captured {
  const lines: string[] = [];
  const at = (level: string) => (obj: object, msg?: string) => void lines.push(`${level} ${msg ?? ''} ${JSON.stringify(obj)}`);
  const log: AuthLogger = { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error'), child: () => log };
  return { lines, log };
}

describe('ldap passdb against OpenLDAP slapd', { skip, timeout: 180_000 }, () => {
  let slapd: SlapdInstance;
  let certs: TestCerts;
  let tmp: ReturnType<typeof makeTempDir>;
  const open: Passdb[] = [];

  const settings = (over: Partial<LdapSettingsInput> = {}): LdapSettingsInput => ({
    uris: slapd.url,
    dn: SERVICE_DN,
    dnpass: SERVICE_PW,
    base: SUFFIX,
    pass_attrs: 'uid=user, userPassword=password, mailHost=host, =proxy=y',
    ...over,
  });
  const passdb = (over: Partial<LdapSettingsInput> = {}, log?: AuthLogger): Passdb => {
    const db = createPassdb(passdbSpecSchema.parse({ driver: 'ldap', ldap: settings(over) }), log ? { log } : {});
    open.push(db);
    return db;
  };
  const lookup = (db: Passdb, user: string, password?: string): Promise<PassdbResult> =>
    db.lookup(makeAuthRequest({ user, ...(password === undefined ? {} : { password }) }));
  /** slapd's log once it has been still for a moment: it comes through a pipe, a little after the fact. */
  const quietLog = async (): Promise<string> => {
    let last = -1;
    return pollUntil(
      () => {
        const now = slapd.log();
        if (now.length === last) return now;
        last = now.length;
        return undefined;
      },
      { timeoutMs: 5000, intervalMs: 100, what: "slapd's log to settle" },
    );
  };
  const login = async (over: Partial<LdapSettingsInput>, user: string, password: string) => {
    const auth = createAuthenticator([passdbSpecSchema.parse({ driver: 'ldap', ldap: settings(over) })]);
    try {
      return await auth.authenticate(makeAuthRequest({ user, password }));
    } finally {
      await auth.close();
    }
  };

  before(async () => {
    certs = await getTestCerts();
    tmp = makeTempDir('ldap-passdb');
    slapd = await startSlapd({
      suffix: SUFFIX,
      rootDn: `cn=admin,${SUFFIX}`,
      rootPassword: 'admin-pw',
      ldif: await tree(),
      acl: ACL,
      tls: { cert: certs.server, caPath: certs.ca.certPath },
    });
  });

  after(async () => {
    await Promise.all(open.map((db) => db.close()));
    await slapd?.destroy();
    tmp?.remove();
  });

  describe('password lookup', () => {
    test('pass_attrs map attributes to fields, constants included', async () => {
      const r = await lookup(passdb(), 'alice', 'alice-pw');
      assert.equal(r.kind, 'found');
      assert.ok(r.kind === 'found');
      assert.match(r.password ?? '', /^\{SSHA\}/);
      // withFields folds `user` into the name: alice stays alice.
      assert.deepEqual(r.fields, { host: 'imap1.example.test', proxy: 'y' });
    });

    test('Dovecot 2.3 templates: %{ldap:attr}, defaults, %$ and the old prefix form', async () => {
      const db = passdb({
        pass_attrs:
          'userPassword=password, =host=%{ldap:mailHost}, =route=%{ldap:mailRoutingAddress:none}, ' +
          'uid=login=%$@%{ldap:mailHost}, mailHost=backend=imap:, =nopassword, =who=%u, =dn=%{ldap_dn}',
      });
      const bob = await lookup(db, 'bob');
      assert.ok(bob.kind === 'found');
      assert.deepEqual(bob.fields, {
        host: 'imap2.example.test', route: 'bob@example.test', login: 'bob@imap2.example.test',
        backend: 'imap:imap2.example.test', nopassword: '', who: 'bob', dn: `uid=bob,${PEOPLE}`,
      });
      const alice = await lookup(db, 'alice');
      assert.ok(alice.kind === 'found');
      assert.equal(alice.fields['route'], 'none');
    });

    test('{CRYPT}$6$ passwords are checked by the authenticator', async () => {
      assert.deepEqual(await login({}, 'bob', 'bob-pw'), { kind: 'ok', user: 'bob', fields: { host: 'imap2.example.test', proxy: 'y' }, passwordVerified: true });
      assert.equal((await login({}, 'bob', 'wrong')).kind, 'fail');
    });

    test('{SSHA} passwords made by slappasswd', { skip: getScheme('SSHA') ? false : 'SSHA scheme not registered yet' }, async () => {
      assert.equal((await login({}, 'alice', 'alice-pw')).kind, 'ok');
      const bad = await login({}, 'alice', 'alice-pw ');
      assert.equal(bad.kind === 'fail' && bad.reason, 'passwordMismatch');
    });

    test('a bare hash gets default_pass_scheme (CRYPT)', async () => {
      const r = await lookup(passdb(), 'carol');
      assert.ok(r.kind === 'found');
      assert.match(r.password ?? '', /^\{CRYPT\}\$6\$/);
      assert.equal((await login({}, 'carol', 'carol-pw')).kind, 'ok');
    });

    test('no password attribute: the authenticator refuses unless nopassword or proxy says so', async () => {
      const r = await lookup(passdb({ pass_attrs: 'userPassword=password, mailHost=host' }), 'dave', 'x');
      assert.deepEqual(r, { kind: 'found', password: null, fields: { host: 'imap3.example.test' } });
      const refused = await login({ pass_attrs: 'userPassword=password, mailHost=host' }, 'dave', 'x');
      assert.equal(refused.kind === 'fail' && refused.reason, 'passwordMismatch');
      const proxied = await login({ pass_attrs: 'userPassword=password, mailHost=host, =proxy=y, =nopassword=y' }, 'dave', 'x');
      assert.deepEqual(proxied, { kind: 'ok', user: 'dave', fields: { host: 'imap3.example.test', proxy: 'y' }, passwordVerified: false });
    });

    test('unknown user, and a base that does not exist, are userUnknown', async () => {
      assert.deepEqual(await lookup(passdb(), 'nobody', 'x'), { kind: 'userUnknown' });
      const byDomain = passdb({ base: `ou=%d,${SUFFIX}`, pass_filter: '(&(objectClass=posixAccount)(uid=%n))' });
      assert.equal((await lookup(byDomain, 'alice@people')).kind, 'found');
      assert.deepEqual(await lookup(byDomain, 'alice@nowhere'), { kind: 'userUnknown' });
      // The domain is escaped for the DN: it cannot climb to another branch.
      assert.deepEqual(await lookup(byDomain, `alice@people,${SUFFIX}`), { kind: 'userUnknown' });
    });

    test('several entries are a temporary failure, as Dovecot ("matched multiple objects")', async () => {
      const c = capture();
      const r = await lookup(passdb({}, c.log), 'dup', 'dup-pw');
      assert.deepEqual(r, { kind: 'tempFail', reason: 'pass_filter matched multiple objects' });
      assert.ok(c.lines.some((l) => l.includes('matched multiple objects')));
      // scope onelevel under ou=people sees only one of them.
      assert.equal((await lookup(passdb({ base: PEOPLE, scope: 'onelevel' }), 'dup')).kind, 'found');
    });

    test('hostile user names never match another entry', async () => {
      const db = passdb();
      for (const name of HOSTILE_NAMES) {
        assert.deepEqual(await lookup(db, name, 'alice-pw'), { kind: 'userUnknown' }, JSON.stringify(name));
      }
      const weird = await lookup(db, WEIRD_UID);
      assert.ok(weird.kind === 'found', 'the entry whose uid is full of specials is found by its exact name');
      assert.equal(weird.fields['host'], 'weird.example.test');
    });
  });

  describe('auth_bind', () => {
    test('binds as the DN the search found; the search identity is kept', async () => {
      const c = capture();
      const db = passdb({ auth_bind: true }, c.log);
      assert.deepEqual(await lookup(db, 'alice', 'alice-pw'), { kind: 'ok', fields: { host: 'imap1.example.test', proxy: 'y' } });
      assert.deepEqual(await lookup(db, 'bob', 'bob-pw'), { kind: 'ok', fields: { host: 'imap2.example.test', proxy: 'y' } });
      assert.deepEqual(await lookup(db, WEIRD_UID, 'weird-pw'), { kind: 'ok', fields: { host: 'weird.example.test', proxy: 'y' } });
      assert.deepEqual(await lookup(db, 'alice', 'bob-pw'), { kind: 'passwordMismatch' });
      assert.deepEqual(await lookup(db, 'nobody', 'x'), { kind: 'userUnknown' });
      assert.equal((await lookup(db, 'dup', 'dup-pw')).kind, 'tempFail');
      // Were searches running as alice now, the ACL would hide bob.
      assert.equal((await lookup(db, 'bob', 'bob-pw')).kind, 'ok');
      assert.ok(!c.lines.some((l) => /alice-pw|bob-pw/.test(l)), 'no password in the log');
    });

    test('the userPassword attribute is not even fetched', async () => {
      const before = (await quietLog()).length;
      await lookup(passdb({ auth_bind: true }), 'alice', 'alice-pw');
      const srch = (await quietLog()).slice(before).split('\n').filter((l) => /SRCH attr=/.test(l));
      assert.ok(srch.length > 0);
      for (const l of srch) assert.doesNotMatch(l, /userPassword/);
    });

    test('an empty password fails without any bind (no anonymous success)', async () => {
      // carol: no other test binds as her, so any BIND with her DN in the whole log would be ours.
      const db = passdb({ auth_bind: true });
      assert.deepEqual(await lookup(db, 'carol', ''), { kind: 'passwordMismatch' });
      assert.deepEqual(await lookup(passdb({ auth_bind: true, auth_bind_userdn: `uid=%u,${PEOPLE}` }), 'carol', ''), { kind: 'passwordMismatch' });
      const r = await login({ auth_bind: true }, 'carol', '');
      assert.equal(r.kind === 'fail' && r.reason, 'passwordMismatch');
      assert.equal((await lookup(db, 'carol', 'x')).kind, 'passwordMismatch', 'a real bind for comparison');
      await pollUntil(() => (/BIND dn="uid=carol/.test(slapd.log()) ? true : undefined), { timeoutMs: 5000, what: "slapd's log of the comparison bind" });
      assert.equal(slapd.log().match(/op=\d+ BIND dn="uid=carol,[^"]*" method=128/g)?.length, 1, 'only the comparison bind reached the server');
    });

    test('auth_bind_userdn binds without searching; the name is escaped for the DN', async () => {
      const db = passdb({ auth_bind: true, auth_bind_userdn: `uid=%u,${PEOPLE}` });
      const before = (await quietLog()).length;
      assert.deepEqual(await lookup(db, 'alice', 'alice-pw'), { kind: 'ok', fields: {} });
      assert.doesNotMatch((await quietLog()).slice(before), /SRCH base="ou=people/);
      assert.deepEqual(await lookup(db, 'alice', 'wrong'), { kind: 'passwordMismatch' });
      assert.deepEqual(await lookup(db, WEIRD_UID, 'weird-pw'), { kind: 'ok', fields: {} });
      for (const name of ['alice,ou=people', `alice,${PEOPLE}`, '*', 'alice+cn=alice', 'alice\\', 'alice\0', '#alice', 'x,uid=alice']) {
        assert.notEqual((await lookup(db, name, 'alice-pw')).kind, 'ok', JSON.stringify(name));
      }
    });

    test('through the authenticator', async () => {
      assert.deepEqual(await login({ auth_bind: true }, 'alice', 'alice-pw'), { kind: 'ok', user: 'alice', fields: { host: 'imap1.example.test', proxy: 'y' }, passwordVerified: true });
      const bad = await login({ auth_bind: true }, 'alice', 'nope');
      assert.equal(bad.kind === 'fail' && bad.reason, 'passwordMismatch');
    });
  });

  describe('connections', () => {
    test('unreachable server: tempFail with a clear reason and no secret', async () => {
      const dead = await freePort();
      const c = capture();
      const db = passdb({ uris: `ldap://127.0.0.1:${dead}` }, c.log);
      const r = await lookup(db, 'alice', 'alice-pw');
      assert.ok(r.kind === 'tempFail');
      assert.match(r.reason, /no LDAP server available.*ECONNREFUSED/);
      assert.doesNotMatch(r.reason + c.lines.join('\n'), new RegExp(SERVICE_PW));
      assert.equal(c.lines.filter((l) => l.startsWith('warn') && l.includes('no LDAP server available')).length, 1);
      await lookup(db, 'alice', 'alice-pw');
      assert.equal(c.lines.filter((l) => l.startsWith('warn') && l.includes('no LDAP server available')).length, 1, 'one warning per outage');
    });

    test('uris fail over in order; hosts work too', async () => {
      const dead = await freePort();
      assert.equal((await lookup(passdb({ uris: `ldap://127.0.0.1:${dead} ${slapd.url}` }), 'alice')).kind, 'found');
      const { uris: _, ...rest } = settings();
      const db = createPassdb(passdbSpecSchema.parse({ driver: 'ldap', ldap: { ...rest, hosts: `127.0.0.1:${dead} 127.0.0.1:${slapd.port}` } }), {});
      open.push(db);
      assert.equal((await lookup(db, 'alice')).kind, 'found');
    });

    test('a wrong service password is a temporary failure, not "unknown user"', async () => {
      const r = await lookup(passdb({ dnpass: 'wrong' }), 'alice');
      assert.ok(r.kind === 'tempFail');
      assert.match(r.reason, /InvalidCredentials \(49\)/);
      assert.doesNotMatch(r.reason, /wrong/);
    });

    test('slapd restart: tempFail while down, then both connections reconnect', async () => {
      const c = capture();
      const db = passdb({}, c.log);
      const bind = passdb({ auth_bind: true }, c.log);
      // StartTLS too: ldapts itself would not notice this connection close.
      const tls = passdb({ auth_bind: true, tls: true, tls_ca_cert_file: certs.ca.certPath }, c.log);
      assert.equal((await lookup(db, 'alice')).kind, 'found');
      assert.equal((await lookup(bind, 'alice', 'alice-pw')).kind, 'ok');
      assert.equal((await lookup(tls, 'alice', 'alice-pw')).kind, 'ok');
      await slapd.stop();
      assert.equal((await lookup(db, 'alice')).kind, 'tempFail');
      assert.equal((await lookup(bind, 'alice', 'alice-pw')).kind, 'tempFail');
      await slapd.start();
      const before = (await quietLog()).length;
      assert.equal((await lookup(db, 'alice')).kind, 'found');
      assert.equal((await lookup(bind, 'alice', 'alice-pw')).kind, 'ok');
      assert.equal((await lookup(bind, 'alice', 'bad')).kind, 'passwordMismatch');
      assert.equal((await lookup(tls, 'alice', 'alice-pw')).kind, 'ok');
      const binds = (await quietLog()).slice(before).split('\n').filter((l) => / BIND dn=.* mech=SIMPLE/.test(l));
      assert.ok(binds.filter((l) => /ssf=0\b/.test(l)).length >= 3 && binds.some((l) => /ssf=(?!0\b)\d+/.test(l)));
      assert.ok(c.lines.some((l) => l.includes('available again')));
    });

    test('many logins at once share a few connections', async () => {
      const db = passdb({ auth_bind: true });
      const before = (await quietLog()).length;
      const users: Array<[string, string, PassdbResult['kind']]> = [];
      for (let i = 0; i < 30; i++) users.push(['alice', 'alice-pw', 'ok'], ['bob', 'nope', 'passwordMismatch'], ['nobody', 'x', 'userUnknown']);
      const results = await Promise.all(users.map(([u, p]) => lookup(db, u, p)));
      assert.deepEqual(results.map((r) => r.kind), users.map(([, , k]) => k));
      const accepted = (await quietLog()).slice(before).match(/ ACCEPT from/g)?.length ?? 0;
      assert.ok(accepted >= 2 && accepted <= 5, `one search connection and at most 4 for binds, got ${accepted}`);
    });

    test('close() unbinds, and later lookups fail temporarily', async () => {
      const db = createPassdb(passdbSpecSchema.parse({ driver: 'ldap', ldap: settings({ auth_bind: true }) }), {});
      assert.equal((await lookup(db, 'alice', 'alice-pw')).kind, 'ok');
      const before = (await quietLog()).length;
      await Promise.all([db.close(), db.close()]);
      assert.equal((await quietLog()).slice(before).match(/ UNBIND/g)?.length, 2, 'search and bind connection');
      assert.equal((await lookup(db, 'alice', 'alice-pw')).kind, 'tempFail');
    });
  });

  describe('TLS and sockets', () => {
    test('StartTLS (tls=yes) verified against the test CA', async () => {
      const before = (await quietLog()).length;
      const db = passdb({ uris: `ldap://localhost:${slapd.port}`, tls: true, tls_ca_cert_file: certs.ca.certPath, auth_bind: true });
      assert.deepEqual(await lookup(db, 'alice', 'alice-pw'), { kind: 'ok', fields: { host: 'imap1.example.test', proxy: 'y' } });
      const log = (await quietLog()).slice(before);
      assert.match(log, /STARTTLS/);
      // Every bind, the user's included, went over TLS.
      for (const l of log.split('\n').filter((x) => / BIND dn=.* mech=SIMPLE/.test(x))) assert.match(l, /ssf=(?!0\b)\d+/);
    });

    test('StartTLS to a server the CA did not sign: tempFail', async () => {
      const r = await lookup(passdb({ tls: true, tls_ca_cert_file: certs.selfSigned.certPath }), 'alice');
      assert.ok(r.kind === 'tempFail');
      assert.match(r.reason, /no LDAP server available .*(CERT|certificate)/);
    });

    test('ldaps:// URIs', async () => {
      const db = passdb({ uris: `ldaps://127.0.0.1:${slapd.ldapsPort}`, tls_ca_cert_file: certs.ca.certPath });
      assert.equal((await lookup(db, 'alice')).kind, 'found');
      const insecure = passdb({ uris: `ldaps://127.0.0.1:${slapd.ldapsPort}`, tls_require_cert: 'never' });
      assert.equal((await lookup(insecure, 'alice')).kind, 'found');
      assert.equal((await lookup(passdb({ uris: `ldaps://127.0.0.1:${slapd.ldapsPort}` }), 'alice')).kind, 'tempFail', 'system CAs do not know the test CA');
    });

    test('ldapi:// Unix socket', async () => {
      assert.equal((await lookup(passdb({ uris: slapd.ldapiUri }), 'alice')).kind, 'found');
    });
  });

  test('args naming a dovecot-ldap.conf.ext, read as it is', async () => {
    const path = join(tmp.path, 'dovecot-ldap.conf.ext');
    writeFileSync(
      path,
      [
        '# dovecot-ldap.conf.ext',
        `hosts = 127.0.0.1:${slapd.port}`,
        `dn = ${SERVICE_DN}`,
        `dnpass = "${SERVICE_PW}"`,
        'ldap_version = 3',
        `base = ${SUFFIX} # trailing comment`,
        'scope = SUBTREE',
        'auth_bind = no',
        'user_attrs = homeDirectory=home',
        'pass_filter = (&(objectClass=posixAccount)(uid=%u))',
        'pass_attrs = uid=user, \\',
        '  userPassword=password, \\',
        '  =host=%{ldap:mailHost}',
        'default_pass_scheme = CRYPT',
        '',
      ].join('\n'),
    );
    const db = createPassdb(passdbSpecSchema.parse({ driver: 'ldap', args: path }), {});
    open.push(db);
    const r = await lookup(db, 'bob');
    assert.ok(r.kind === 'found');
    assert.deepEqual(r.fields, { host: 'imap2.example.test' });
    assert.match(r.password ?? '', /^\{CRYPT\}\$6\$/);
  });
});
