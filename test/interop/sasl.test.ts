// SASL beyond PLAIN through postern to a real Dovecot 2.3 backend:
// - XOAUTH2 passed through (proxy_mech=xoauth2) to a Dovecot whose oauth2 passdb introspects
//   the token at a tiny RFC 7662 endpoint run by this test (no fake backend: Dovecot checks it);
// - the same token checked first by postern's own oauth2 passdb, then forwarded;
// - a master user (user*master) logging in through postern as the user;
// - python imaplib's CRAM-MD5 through postern;
// - EXTERNAL with an openssl s_client client certificate from the test CA.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { dovecotSkipReason, getTestCerts, makeTempDir, requireBinary, runPython, skipSuite, spawnProcess, startDovecot, type DovecotInstance, type TestCerts } from './harness/index.js';
import { startPostern, type TestPostern } from '../support/postern.js';
import { readImap } from '../support/imap-client.js';

const skip = skipSuite('sasl', dovecotSkipReason(), requireBinary('python3'));
const A = '\x01';
const b64 = (s: string) => Buffer.from(s).toString('base64');

/** token → who it belongs to; anything else is inactive. */
const TOKENS: Record<string, string> = { 'tok-frank': 'frank', 'tok-carol': 'carol' };

describe('SASL mechanisms through postern to Dovecot', { skip, timeout: 120_000 }, () => {
  let dovecot: DovecotInstance;
  let postern: TestPostern;
  let certs: TestCerts;
  let tmp: ReturnType<typeof makeTempDir>;
  let idp: Server;
  const introspected: string[] = [];
  const imapPort = () => postern.port(0);
  const imapsPort = () => postern.port(1);

  before(async () => {
    certs = await getTestCerts();
    tmp = makeTempDir('postern-sasl-');
    chmodSync(tmp.path, 0o755);
    idp = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        const token = new URLSearchParams(body).get('token') ?? '';
        introspected.push(token);
        const user = TOKENS[token];
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(user ? { active: true, username: user, scope: 'mail' } : { active: false }));
      });
    });
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', r));
    const introspectionUrl = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/introspect`;
    const oauthConf = join(tmp.path, 'dovecot-oauth2.conf.ext');
    writeFileSync(oauthConf, `introspection_url = ${introspectionUrl}\nintrospection_mode = post\nusername_attribute = username\nactive_attribute = active\nactive_value = true\n`, { mode: 0o644 });

    dovecot = await startDovecot({
      users: ['alice', 'carol', 'dave', 'erin', 'frank'].map((name) => ({ name, password: `${name}-backend-pw` })),
      masterUser: { name: 'admin', password: 'admin-pw' },
      trustedNetworks: '127.0.0.0/8',
      // The backend checks XOAUTH2 tokens itself, at the test's introspection endpoint.
      extraConfig: ['auth_mechanisms = plain login xoauth2 oauthbearer', 'passdb {', '  driver = oauth2', `  args = ${oauthConf}`, '}'].join('\n'),
    });
    const d = `host=127.0.0.1 port=${dovecot.ports.imap}`;
    const users = [
      // Logged in at the backend as the master user (Dovecot's admin), whatever the mechanism here.
      `alice:{PLAIN}alice-pw::::::proxy=y ${d}`,
      `dave:{PLAIN}dave-pw::::::proxy=y ${d} master=admin pass=admin-pw`,
      `erin:{SHA512-CRYPT}$6$unused$unused::::::proxy=y ${d} master=admin pass=admin-pw`,
      // No check here: the token goes on to Dovecot.
      `frank:::::::nopassword=y proxy=y ${d} proxy_mech=xoauth2`,
    ];
    const passwd = join(tmp.path, 'users');
    writeFileSync(passwd, `${users.join('\n')}\n`);
    writeFileSync(join(tmp.path, 'masters'), 'admin:{PLAIN}admin-pw\n');
    postern = await startPostern({
      log: { level: 'debug' },
      tls: { cert: certs.server.certPath, key: certs.server.keyPath, client_ca: certs.ca.certPath },
      listen: [
        { protocol: 'imap', address: '127.0.0.1', port: 0 },
        { protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'implicit' },
      ],
      auth: {
        failure_delay: '0',
        mechanisms: ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-256', 'XOAUTH2', 'OAUTHBEARER', 'EXTERNAL'],
        master_user_separator: '*',
        master_passdb: [{ driver: 'passwd-file', args: join(tmp.path, 'masters') }],
        passdb: [
          { driver: 'passwd-file', args: passwd },
          // carol: the token is checked here too, then forwarded the same way.
          { driver: 'oauth2', oauth2: { introspection_url: introspectionUrl, introspection_mode: 'post', username_attribute: 'username', active_attribute: 'active', active_value: 'true' }, default_fields: `proxy=y ${d} proxy_mech=xoauth2` },
        ],
      },
      proxy: { max_reconnects: 0 },
    });
  });

  after(async () => {
    await postern?.close();
    await dovecot?.stop();
    await new Promise((r) => idp?.close(r));
    tmp?.remove();
  });

  test('XOAUTH2 passed through: Dovecot introspects the token; imaplib selects INBOX', async () => {
    introspected.length = 0;
    const script = `
import imaplib, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
print(m.authenticate('XOAUTH2', lambda _: b'user=frank\\x01auth=Bearer tok-frank\\x01\\x01')[0])
print(m.select('INBOX')[0])
m.logout()
`;
    const r = await runPython(script, [String(imapPort())], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['OK', 'OK']);
    assert.deepEqual(introspected, ['tok-frank'], 'only the backend asked');
    await dovecot.waitForLog(/imap-login: Info: Login: user=<frank>, method=XOAUTH2/, 5000);
  });

  test("OAUTHBEARER checked by postern's oauth2 passdb, then forwarded as XOAUTH2: both ask the endpoint", async () => {
    introspected.length = 0;
    const c = await readImap(imapPort());
    const ir = b64(`n,a=carol,${A}host=localhost${A}port=143${A}auth=Bearer tok-carol${A}${A}`);
    assert.match(await c.command(`a AUTHENTICATE OAUTHBEARER ${ir}`, undefined, 10_000), /^a OK \[CAPABILITY [^\]]*IMAP4rev1[^\]]*\] Logged in\r\n$/m);
    assert.match(await c.command('b SELECT INBOX', undefined, 10_000), /^b OK \[READ-WRITE\]/m);
    c.close();
    assert.deepEqual(introspected, ['tok-carol', 'tok-carol']);
  });

  test('an inactive token: the JSON error challenge, then NO, and nothing reaches the backend', async () => {
    introspected.length = 0;
    const c = await readImap(imapPort());
    const ch = await c.command(`a AUTHENTICATE XOAUTH2 ${b64(`user=carol${A}auth=Bearer tok-revoked${A}${A}`)}`, /^\+ [^\r\n]*\r\n/m, 10_000);
    assert.deepEqual(JSON.parse(Buffer.from(ch.slice(2).trim(), 'base64').toString()), { status: '401', schemes: 'bearer', scope: 'mail' });
    assert.equal(await c.command('', /^a /m, 10_000), 'a NO [AUTHENTICATIONFAILED] Authentication failed.\r\n');
    c.close();
    assert.deepEqual(introspected, ['tok-revoked'], 'postern asked; the backend never saw it');
  });

  test('a master user: imaplib logs in as alice*admin with the master password; Dovecot sees the master login', async () => {
    const mark = await dovecot.logMark();
    const script = `
import imaplib, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
print(m.login('alice*admin', 'admin-pw')[0])
print(m.select('INBOX')[0])
m.logout()
try:
    imaplib.IMAP4('127.0.0.1', int(sys.argv[1])).login('nobody*admin', 'admin-pw')
except imaplib.IMAP4.error as e:
    print(e)
`;
    const r = await runPython(script, [String(imapPort())], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['OK', 'OK', "b'[AUTHORIZATIONFAILED] Authorization failed'"]);
    await dovecot.waitForLog(/Master user logging in as alice/, 5000, { since: mark });
  });

  test("python imaplib's login_cram_md5 through postern (checked here, logged in at Dovecot as the master)", async () => {
    const script = `
import imaplib, sys
m = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
print('AUTH=CRAM-MD5' in m.capabilities, 'AUTH=SCRAM-SHA-256' in m.capabilities)
print(m.login_cram_md5('dave', 'dave-pw')[0])
print(m.select('INBOX')[0])
m.logout()
try:
    imaplib.IMAP4('127.0.0.1', int(sys.argv[1])).login_cram_md5('dave', 'wrong')
except imaplib.IMAP4.error as e:
    print(e)
`;
    const r = await runPython(script, [String(imapPort())], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['True True', 'OK', 'OK', '[AUTHENTICATIONFAILED] Authentication failed.']);
  });

  test('EXTERNAL with an openssl s_client client certificate: the certificate CN logs in', async () => {
    const erin = await certs.issue(['erin']);
    const s = spawnProcess('openssl', ['s_client', '-connect', `127.0.0.1:${imapsPort()}`, '-servername', 'localhost', '-CAfile', certs.ca.certPath, '-cert', erin.certPath, '-key', erin.keyPath, '-quiet', '-ign_eof', '-crlf'], {
      input: 'a CAPABILITY\nb AUTHENTICATE EXTERNAL =\nc SELECT INBOX\nd LOGOUT\n',
    });
    try {
      await s.waitForOutput(/^d OK/m, 20_000);
      const out = s.stdout();
      assert.match(out, /^\* CAPABILITY [^\r\n]* AUTH=EXTERNAL\r?$/m);
      // The client asked CAPABILITY before login: the backend's comes untagged (as Dovecot's proxy does).
      assert.match(out, /^\* CAPABILITY IMAP4rev1 [^\r\n]*\bMOVE\b[^\r\n]*\r?\nb OK Logged in\r?$/m);
      assert.match(out, /^c OK \[READ-WRITE\]/m);
    } finally {
      await s.stop();
    }
    await postern.waitForLog((r) => r.event === 'proxy_started' && r.user === 'erin');
  });
});
