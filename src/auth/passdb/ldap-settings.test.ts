import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { passdbSpecSchema } from '../config.js';
import { readDovecotConf } from './dovecot-conf-file.js';
import { DEFAULT_PASS_ATTRS, DEFAULT_PASS_FILTER, resolveLdapConfig, settingsFromConf, type FileAccess, type LdapSettings } from './ldap-settings.js';

const reader = (files: Record<string, string>) => (path: string) => files[path];
const conf = (text: string, more: Record<string, string> = {}) =>
  settingsFromConf(
    readDovecotConf('/etc/dovecot/dovecot-ldap.conf.ext', reader({ '/etc/dovecot/dovecot-ldap.conf.ext': text, ...more }), { env: { LDAP_PW: 'from-env' } }),
    '/etc/dovecot/dovecot-ldap.conf.ext',
  );

const noFiles: FileAccess = {
  resolve: (p) => (p.startsWith('/') ? p : `/cfg/${p}`),
  readText: (p) => {
    if (p === '/cfg/ca.pem') return '-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n';
    throw Object.assign(new Error('nope'), { code: 'ENOENT' });
  },
  listDir: () => [],
};
const inline = (ldap: Record<string, unknown>): LdapSettings => passdbSpecSchema.parse({ driver: 'ldap', ldap }).ldap!;
const resolved = (ldap: Record<string, unknown>) => resolveLdapConfig(inline({ base: 'dc=x', uris: 'ldap://h', ...ldap }), noFiles);

describe('dovecot-ldap.conf.ext reader', () => {
  it("reads Dovecot's syntax: comments, continuations, quotes, sections, includes", () => {
    const s = conf(
      [
        '# comment',
        '   # indented comment',
        'hosts = ldap1.example.com:3389  ldap2.example.com',
        'dn = cn=dovecot,dc=example,dc=com   # trailing comment',
        'dnpass = "se#cr\\"et"',
        "base = 'ou=people,dc=example,dc=com'",
        'pass_attrs = uid=user, \\',
        '',
        '  # a comment inside a continuation is skipped',
        '  userPassword=password, \\',
        '  =proxy=y',
        'scope = OneLevel',
        'auth_bind = YES',
        'ldap_version = 0x3',
        'user_attrs = homeDirectory=home',
        'iterate_filter = (objectClass=posixAccount)',
        'sasl_bind = no',
        'ignored_section {',
        '  uris = ldap://nowhere',
        '}',
        '!include_try /etc/dovecot/missing.conf',
        '!include extra.conf',
      ].join('\r\n'),
      { '/etc/dovecot/extra.conf': 'deref = Always\ntls_require_cert = demand\n' },
    );
    assert.deepEqual(s, {
      hosts: 'ldap1.example.com:3389  ldap2.example.com',
      dn: 'cn=dovecot,dc=example,dc=com',
      dnpass: 'se#cr"et',
      base: 'ou=people,dc=example,dc=com',
      pass_attrs: 'uid=user, userPassword=password, =proxy=y',
      scope: 'onelevel',
      auth_bind: true,
      ldap_version: 3,
      deref: 'always',
      tls_require_cert: 'demand',
      tls: false,
      pass_filter: DEFAULT_PASS_FILTER,
      default_pass_scheme: 'CRYPT',
    });
  });

  it('takes $ENV:NAME values (Dovecot 2.3.19+)', () => {
    assert.equal(conf('base = x\ndnpass = $ENV:LDAP_PW\n').dnpass, 'from-env');
  });

  it('has Dovecot 2.3 defaults', () => {
    const s = conf('uris = ldap://h\nbase = dc=x\n');
    assert.equal(s.pass_attrs, DEFAULT_PASS_ATTRS);
    assert.equal(s.pass_filter, '(&(objectClass=posixAccount)(uid=%u))');
    assert.equal(s.scope, 'subtree');
    assert.equal(s.deref, 'never');
    assert.equal(s.auth_bind, false);
  });

  const errors: ReadonlyArray<[string, RegExp]> = [
    ['uris = ldap://h\n', /no base given/],
    ['base = x\nfoo = bar\n', /conf.ext:2: unknown setting: foo/],
    ['base = x\nauth_bind = true\n', /conf.ext:2: invalid boolean: true/],
    ['base = x\nsasl_bind = yes\n', /sasl_bind=yes is not supported/],
    ['base = x\nldap_version = three\n', /invalid number/],
    ['base = x\nscope = everything\n', /scope/],
    ['base = x\njust a line\n', /line 2: expecting '='/],
    ['base = x\n}\n', /unexpected '}'/],
    ['base = x\n!include /nope.conf\n', /couldn't open include file \/nope.conf/],
    ['base = x\n!include /etc/dovecot/dovecot-ldap.conf.ext\n', /recursive include/],
    ['base = x\n!include /etc/dovecot/*.conf\n', /glob/],
  ];
  for (const [text, re] of errors) {
    it(`rejects ${JSON.stringify(text)}`, () => assert.throws(() => conf(text), (e: Error & { code?: string }) => e.code === 'AUTH_CONFIG' && re.test(e.message)));
  }
  it('a missing file is a config error', () => {
    assert.throws(() => readDovecotConf('/nope', reader({})), { code: 'AUTH_CONFIG' });
  });
});

describe('inline ldap: settings', () => {
  it('are strict and take YAML booleans', () => {
    assert.equal(inline({ base: 'x', auth_bind: 'yes', tls: true }).auth_bind, true);
    assert.equal(passdbSpecSchema.safeParse({ driver: 'ldap', ldap: { base: 'x', typo: 1 } }).success, false);
    assert.equal(passdbSpecSchema.safeParse({ driver: 'ldap', ldap: { uris: 'ldap://h' } }).success, false, 'base is required');
    assert.equal(passdbSpecSchema.safeParse({ driver: 'ldap', ldap: { base: 'x', scope: 'sub' } }).success, false);
  });
});

describe('resolveLdapConfig', () => {
  it('turns uris and hosts into servers', () => {
    const labels = (ldap: Record<string, unknown>) => resolved(ldap).servers.map((s) => s.label);
    assert.deepEqual(labels({ uris: 'ldap://a ldaps://b:1636/, ldap://[::1]:10389' }), ['ldap://a:389', 'ldaps://b:1636', 'ldap://[::1]:10389']);
    assert.deepEqual(labels({ uris: undefined, hosts: 'a b:3389 ::1 [::1]:4389' }), ['ldap://a:389', 'ldap://b:3389', 'ldap://[::1]:389', 'ldap://[::1]:4389']);
    const ldapi = resolved({ uris: 'ldapi://%2Frun%2Fslapd%2Fldapi' }).servers[0]!;
    assert.equal(ldapi.socketPath, '/run/slapd/ldapi');
  });

  it('maps scope, deref and tls_require_cert', () => {
    const c = resolved({ scope: 'onelevel', deref: 'searching', tls_require_cert: 'allow', tls_ca_cert_file: 'ca.pem' });
    assert.equal(c.scope, 'one');
    assert.equal(c.deref, 'search');
    assert.equal(c.tls.rejectUnauthorized, false);
    assert.equal(c.tls.ca?.length, 1);
    assert.equal(resolved({}).tls.rejectUnauthorized, true);
    assert.equal(resolved({ tls_require_cert: 'try' }).tls.rejectUnauthorized, true);
  });

  it('keeps dnpass a Secret', () => {
    const c = resolved({ dn: 'cn=x', dnpass: 'hunter2' });
    assert.equal(c.dnpass?.reveal(), 'hunter2');
    assert.doesNotMatch(JSON.stringify(c), /hunter2/);
  });

  it('drops the password attribute under auth_bind', () => {
    assert.deepEqual(resolved({}).passAttrs.request, ['uid', 'userPassword']);
    assert.deepEqual(resolved({ auth_bind: true }).passAttrs.request, ['uid']);
  });

  const bad: ReadonlyArray<[Record<string, unknown>, RegExp]> = [
    [{ uris: undefined }, /no uris or hosts/],
    [{ uris: 'http://x' }, /invalid URI/],
    [{ uris: 'ldapi:///' }, /socket path/],
    [{ uris: 'ldaps://x', tls: true }, /both tls=yes and ldaps/],
    [{ tls: true, ldap_version: 2 }, /requires ldap_version=3/],
    [{ pass_filter: '(uid=%{nosuch})' }, /unknown variable %\{nosuch\} in pass_filter/],
    [{ base: 'ou=%Q' }, /unknown variable/],
    [{ default_pass_scheme: 'NOPE' }, /unknown default_pass_scheme/],
    [{ tls_ca_cert_file: '/missing.pem' }, /cannot read tls_ca_cert_file \/missing.pem: ENOENT/],
    [{ tls_cert_file: 'c.pem' }, /go together/],
    [{ pass_attrs: '@mail=x' }, /not supported/],
    [{ pass_attrs: '=x=%{ldap_ptr:a}' }, /not supported/],
    [{ pass_attrs: 'uid=' }, /no field name/],
  ];
  for (const [ldap, re] of bad) {
    it(`rejects ${JSON.stringify(ldap)}`, () => assert.throws(() => resolved(ldap), (e: Error & { code?: string }) => e.code === 'AUTH_CONFIG' && re.test(e.message)));
  }

  it('warns about ldap_version 2 and a userdn without auth_bind', () => {
    assert.equal(resolved({ ldap_version: 2, auth_bind_userdn: 'uid=%u' }).warnings.length, 2);
  });
});
