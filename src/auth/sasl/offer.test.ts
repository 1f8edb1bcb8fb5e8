import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConfiguredAuthenticator, hashPassword, offeredMechanisms, passdbSpecSchema, type PassdbSpecInput } from '../index.js';
import { getMechanism, usableMechanisms, type SaslServerMechanism } from './index.js';

// Which mechanisms a passdb chain can verify: Dovecot offers whatever auth_mechanisms lists,
// postern only what some passdb can check (docs/sasl.md).

const ALL = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'XOAUTH2', 'OAUTHBEARER', 'EXTERNAL'];

describe('mechanisms offered per passdb chain', () => {
  let dir: string;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-offer-'));
    writeFileSync(join(dir, 'crypt.passwd'), `alice:{SHA512-CRYPT}${await hashPassword('SHA512-CRYPT', 'pw', 'alice')}\nbob:{BLF-CRYPT}${await hashPassword('BLF-CRYPT', 'pw', 'bob')}\n`);
    writeFileSync(join(dir, 'plain.passwd'), 'alice:{PLAIN}pw\n');
    writeFileSync(join(dir, 'cram.passwd'), `alice:{CRAM-MD5}${await hashPassword('CRAM-MD5', 'pw', 'alice')}\n`);
    writeFileSync(join(dir, 'mixed.passwd'), `alice:{SSHA}x\nbob:{SCRAM-SHA-256}${await hashPassword('SCRAM-SHA-256', 'pw', 'bob')}\ncarol:::::::proxy=y host=h proxy_mech=oauthbearer\n`);
    writeFileSync(join(dir, 'bare.passwd'), 'alice:bare-crypt-hash\n');
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  const offer = (passdb: PassdbSpecInput[], opts: { master?: PassdbSpecInput[]; certs?: boolean } = {}) => {
    const cfg = { passdb: passdb.map((p) => passdbSpecSchema.parse(p)), master_passdb: (opts.master ?? []).map((p) => passdbSpecSchema.parse(p)), master_user_separator: '' };
    const auth = createConfiguredAuthenticator(cfg, { baseDir: dir });
    return offeredMechanisms(ALL, cfg, auth, { clientCertificates: opts.certs ?? false }, { baseDir: dir });
  };
  const file = (name: string, extra = '') => ({ driver: 'passwd-file', args: `${extra}${name}` });
  const OAUTH = { driver: 'oauth2', oauth2: { introspection_url: 'https://idp.example/introspect', introspection_mode: 'post' as const } };

  const table: Array<[string, () => ReturnType<typeof offer>, string[]]> = [
    ['passwd-file of crypt hashes: plaintext only', () => offer([file('crypt.passwd')]), ['PLAIN', 'LOGIN']],
    ['passwd-file of plaintext: every credential', () => offer([file('plain.passwd')]), ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256']],
    ['passwd-file of {CRAM-MD5}: CRAM-MD5 only', () => offer([file('cram.passwd')]), ['PLAIN', 'LOGIN', 'CRAM-MD5']],
    ['mixed file: SCRAM-SHA-256 and forwarded OAUTHBEARER', () => offer([file('mixed.passwd')]), ['PLAIN', 'LOGIN', 'SCRAM-SHA-256', 'OAUTHBEARER']],
    ['bare values take scheme= (PLAIN here)', () => offer([file('bare.passwd', 'scheme=PLAIN ')]), ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256']],
    ['bare values, default CRYPT', () => offer([file('bare.passwd')]), ['PLAIN', 'LOGIN']],
    ['a path with variables: its scheme= only', () => offer([file('%d/passwd', 'scheme=CRAM-MD5 ')]), ['PLAIN', 'LOGIN', 'CRAM-MD5']],
    ['static nopassword proxy with proxy_mech=xoauth2', () => offer([{ driver: 'static', args: 'nopassword=y proxy=y host=10.0.0.1 proxy_mech=xoauth2' }]), ['PLAIN', 'LOGIN', 'XOAUTH2']],
    ['static proxy_mech=%{mech}: any token mechanism', () => offer([{ driver: 'static', args: 'nopassword=y proxy=y host=10.0.0.1 proxy_mech=%{mech}' }]), ['PLAIN', 'LOGIN', 'XOAUTH2', 'OAUTHBEARER']],
    ['static password=: a plaintext password', () => offer([{ driver: 'static', args: 'password=secret' }]), ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256']],
    ['proxy_mech in default_fields', () => offer([{ ...file('crypt.passwd'), default_fields: 'proxy_mech=oauthbearer' }]), ['PLAIN', 'LOGIN', 'OAUTHBEARER']],
    ['an oauth2 passdb: tokens', () => offer([OAUTH]), ['PLAIN', 'LOGIN', 'XOAUTH2', 'OAUTHBEARER']],
    ['oauth2 first, crypt file second', () => offer([OAUTH, file('crypt.passwd')]), ['PLAIN', 'LOGIN', 'XOAUTH2', 'OAUTHBEARER']],
    ['sql, default MD5-CRYPT', () => offer([{ driver: 'sql', sql: { driver: 'sqlite', connect: '/nonexistent.db' } }]), ['PLAIN', 'LOGIN']],
    ['sql, default_pass_scheme PLAIN, proxy_mech column', () => offer([{ driver: 'sql', sql: { driver: 'sqlite', connect: '/nonexistent.db', default_pass_scheme: 'PLAIN', password_query: "SELECT password, 'xoauth2' AS proxy_mech FROM u WHERE u = '%u'" } }]), ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'XOAUTH2', 'OAUTHBEARER']],
    ['ldap auth_bind: nothing to hand out', () => offer([{ driver: 'ldap', ldap: { uris: 'ldap://127.0.0.1', base: 'dc=x', auth_bind: true } }]), ['PLAIN', 'LOGIN']],
    ['ldap with default_pass_scheme PLAIN', () => offer([{ driver: 'ldap', ldap: { uris: 'ldap://127.0.0.1', base: 'dc=x', default_pass_scheme: 'PLAIN' } }]), ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256']],
    ['client certificates verified: EXTERNAL', () => offer([file('crypt.passwd')], { certs: true }), ['PLAIN', 'LOGIN', 'EXTERNAL']],
    ['a master passdb with plaintext counts too', () => offer([file('crypt.passwd')], { master: [file('plain.passwd')] }), ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256']],
  ];
  for (const [name, get, want] of table) it(name, () => assert.deepEqual(get().offered, want));

  it('each mechanism nothing can verify comes with the reason (a warning at start)', () => {
    const why = Object.fromEntries(offer([file('crypt.passwd')]).unverifiable.map((u) => [u.mech, u.why]));
    assert.deepEqual(Object.keys(why), ['CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'XOAUTH2', 'OAUTHBEARER', 'EXTERNAL']);
    assert.equal(why['CRAM-MD5'], 'no passdb stores plaintext or CRAM-MD5 passwords (they hold BLF-CRYPT, SHA512-CRYPT)');
    assert.match(why['XOAUTH2']!, /oauth2 passdb.*proxy_mech=xoauth2/);
    assert.match(why['EXTERNAL']!, /tls\.client_ca/);
  });
});

describe('mechanisms usable on one connection', () => {
  const all = ALL.map((n) => getMechanism(n)!) as SaslServerMechanism[];
  const names = (c: { plaintextAllowed: boolean; certUsername?: string }) => usableMechanisms(all, c).map((m) => m.name);
  it('before TLS (disable_plaintext_auth): no password, no token; CRAM-MD5 and SCRAM stay', () => {
    assert.deepEqual(names({ plaintextAllowed: false }), ['CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256']);
  });
  it('after TLS: everything but EXTERNAL, which needs a verified client certificate', () => {
    assert.deepEqual(names({ plaintextAllowed: true }), ALL.filter((n) => n !== 'EXTERNAL'));
    assert.deepEqual(names({ plaintextAllowed: true, certUsername: 'alice' }), ALL);
  });
});
