// The IMAP login proxy against a real Dovecot backend, with real clients (imapflow, python imaplib).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { dovecotSkipReason, freePort, getTestCerts, makeTempDir, runPython, skipSuite, startDovecot, type DovecotInstance, type TestCerts } from './harness/index.js';
import { startPostern, type TestPostern } from '../support/postern.js';
import { readImap } from '../support/imap-client.js';

const skip = skipSuite('imap proxy', dovecotSkipReason());

const MESSAGE = Buffer.from(
  'From: a@example.test\r\nTo: alice@example.test\r\nSubject: through the proxy\r\nMessage-ID: <1@example.test>\r\n\r\n' +
    'Body line with 8-bit \xe9 and trailing spaces   \r\n.\r\n..\r\nlast line without newline',
  'latin1',
);

async function messages(client: ImapFlow): Promise<number> {
  const status = await client.status('INBOX', { messages: true });
  assert.ok(status, 'STATUS answered');
  return status.messages ?? -1;
}

describe('IMAP proxy to Dovecot', { skip, timeout: 120_000 }, () => {
  let dovecot: DovecotInstance;
  let down: DovecotInstance;
  let postern: TestPostern;
  let certs: TestCerts;
  let tmp: ReturnType<typeof makeTempDir>;
  let deadPort: number;

  const imapPort = () => postern.port(0); // plain + STARTTLS
  const imapsPort = () => postern.port(1); // implicit TLS

  before(async () => {
    certs = await getTestCerts();
    tmp = makeTempDir('postern-imap-proxy-');
    dovecot = await startDovecot({
      users: [
        { name: 'alice', password: 'alice-pw' },
        { name: 'bob', password: 'bob-backend-pw' },
        { name: 'carol', password: 'carol-pw' },
      ],
      masterUser: { name: 'proxymaster', password: 'master-secret' },
      trustedNetworks: '127.0.0.0/8',
    });
    down = await startDovecot({ users: [{ name: 'dora', password: 'dora-pw' }] });
    deadPort = await freePort();
    const d = dovecot.ports;
    const users = [
      // Checked by postern, then the same password forwarded.
      `alice:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${d.imap}`,
      // Checked by postern; the backend login is done as a master user.
      `bob:{PLAIN}bob-front-pw::::::proxy=y host=127.0.0.1 port=${d.imap} master=proxymaster pass=master-secret`,
      // No check here: the backend checks the forwarded password.
      `carol:::::::nopassword=y proxy=y host=127.0.0.1 port=${d.imap}`,
      // destuser: a login name that is another name at the backend.
      `carol.alias:{PLAIN}carol-pw::::::proxy=y host=127.0.0.1 port=${d.imap} destuser=carol`,
      // Backends over STARTTLS and implicit TLS, verified against the test CA.
      `alice.starttls:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${d.imap} starttls=yes destuser=alice`,
      `alice.tls:{PLAIN}alice-pw::::::proxy=y host=localhost port=${d.imaps} ssl=yes destuser=alice`,
      `alice.nopipe:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${d.imap} proxy_nopipelining=y destuser=alice`,
      // No ID to this backend, and postern's side of the connection from a chosen address.
      `alice.untrusted:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${d.imap} proxy_not_trusted=y source_ip=127.0.0.3 destuser=alice`,
      // A backend that will be stopped, and one that never listened.
      `dora:{PLAIN}dora-pw::::::proxy=y host=127.0.0.1 port=${down.ports.imap}`,
      `nobody:{PLAIN}pw::::::proxy=y host=127.0.0.1 port=${deadPort} proxy_timeout=3`,
      `refer:{PLAIN}pw::::::host=imap.example.test nologin=y`,
      `disabled:{PLAIN}pw::::::nologin=y reason=Moved.`,
    ];
    const passwd = join(tmp.path, 'users');
    writeFileSync(passwd, `${users.join('\n')}\n`);
    postern = await startPostern({
      log: { level: 'debug' },
      tls: { cert: certs.server.certPath, key: certs.server.keyPath },
      listen: [
        { protocol: 'imap', address: '127.0.0.1', port: 0 },
        { protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'implicit' },
      ],
      auth: { failure_delay: '0', passdb: [{ driver: 'passwd-file', args: passwd }] },
      proxy: { ca_file: certs.ca.certPath, max_reconnects: 1, reconnect_interval: '200ms' },
    });
  });

  after(async () => {
    await postern?.close();
    await dovecot?.stop();
    await down?.stop();
    tmp?.remove();
  });

  async function flow(user: string, pass: string, opts: { port?: number; secure?: boolean; starttls?: boolean } = {}) {
    const client = new ImapFlow({
      host: '127.0.0.1',
      port: opts.port ?? imapPort(),
      secure: opts.secure ?? false,
      doSTARTTLS: opts.starttls,
      auth: { user, pass },
      logger: false,
      tls: { ca: certs.ca.cert, servername: 'localhost' },
      connectionTimeout: 10_000,
      greetingTimeout: 10_000,
    });
    await client.connect();
    return client;
  }

  test('imapflow logs in with the password forwarded and fetches a message byte-identical to the backend file', async () => {
    await dovecot.deliver('alice', MESSAGE);
    const client = await flow('alice', 'alice-pw');
    try {
      const lock = await client.getMailboxLock('INBOX');
      try {
        const msg = await client.fetchOne('*', { source: true, uid: true });
        assert.ok(msg && msg.source, 'a message came back');
        assert.ok(msg.source.equals(MESSAGE), 'the fetched bytes equal the delivered file');
      } finally {
        lock.release();
      }
      // Post-login capabilities are the backend's, not postern's pre-login list.
      assert.ok(client.capabilities.has('IDLE'), 'IDLE from the backend');
      assert.ok(client.capabilities.has('SORT') || client.capabilities.has('THREAD=REFERENCES'), 'SORT/THREAD from the backend');
    } finally {
      await client.logout();
    }
    const end = await postern.waitForLog((r) => r.event === 'session_end' && r.user === 'alice' && typeof r.bytes_out === 'number');
    assert.equal(end.backend, `127.0.0.1:${dovecot.ports.imap}`);
    assert.ok((end.bytes_out as number) > MESSAGE.length, 'bytes to the client counted');
    assert.ok((end.bytes_in as number) > 0, 'bytes from the client counted');
  });

  test('python imaplib logs in over STARTTLS and implicit TLS with certificate verification', async () => {
    const script = `
import imaplib, ssl, sys
port, tlsport, ca = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
ctx = ssl.create_default_context(cafile=ca)
m = imaplib.IMAP4('127.0.0.1', port)
m.starttls(ssl_context=ctx)
print(m.login('alice', 'alice-pw')[0])
typ, data = m.select('INBOX')
print(typ, int(data[0]) >= 1)
m.logout()
m = imaplib.IMAP4_SSL('localhost', tlsport, ssl_context=ctx)
print(m.login('carol', 'carol-pw')[0])
m.logout()
`;
    const r = await runPython(script, [String(imapPort()), String(imapsPort()), certs.ca.certPath], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['OK', 'OK True', 'OK']);
  });

  test('nopassword: the backend checks the password, and its refusal is reworded', async () => {
    const ok = await flow('carol', 'carol-pw');
    await ok.logout();
    const c = await readImap(imapPort());
    const reply = await c.command('a LOGIN carol wrong-pw');
    assert.match(reply, /^a NO \[AUTHENTICATIONFAILED\] Authentication failed\.\r\n$/m);
    c.close();
  });

  test('a wrong password checked by postern gets NO [AUTHENTICATIONFAILED], and no password reaches the log', async () => {
    const c = await readImap(imapPort());
    assert.match(await c.command('a LOGIN alice not-her-password'), /^a NO \[AUTHENTICATIONFAILED\] Authentication failed\.\r\n$/m);
    assert.match(await c.command('b LOGIN nosuchuser whatever'), /^b NO \[AUTHENTICATIONFAILED\] Authentication failed\.\r\n$/m);
    c.close();
    const log = postern.rawLog();
    for (const secret of ['alice-pw', 'not-her-password', 'master-secret', 'bob-front-pw', 'carol-pw']) assert.ok(!log.includes(secret), `log must not contain ${secret}`);
  });

  test('master user: postern checks the password and logs in at the backend as proxymaster for bob', async () => {
    const mark = await dovecot.logMark();
    const client = await flow('bob', 'bob-front-pw');
    assert.equal(typeof (await messages(client)), 'number');
    await client.logout();
    await dovecot.waitForLog(/Master user logging in as bob|user=<bob>.*method=PLAIN/, 5000, { since: mark });
  });

  test('destuser: carol.alias is carol at the backend', async () => {
    const mark = await dovecot.logMark();
    const client = await flow('carol.alias', 'carol-pw');
    await client.logout();
    await dovecot.waitForLog(/imap-login: Info: Login: user=<carol>,/, 5000, { since: mark });
  });

  test('backends over STARTTLS, implicit TLS and without pipelining', async () => {
    for (const user of ['alice.starttls', 'alice.tls', 'alice.nopipe']) {
      const client = await flow(user, 'alice-pw');
      assert.ok((await messages(client)) >= 1, `${user} sees alice's INBOX`);
      await client.logout();
    }
  });

  test('clients on STARTTLS and implicit TLS (imapflow, verified), to a backend in the clear and to one in TLS', async () => {
    // The relay runs the client's TLS; a backend in TLS joins it through the JavaScript path.
    for (const user of ['alice', 'alice.tls']) {
      const a = await flow(user, 'alice-pw', { starttls: true });
      assert.ok(a.secureConnection, 'STARTTLS in place');
      assert.ok((await messages(a)) >= 1, `${user} over STARTTLS sees alice's INBOX`);
      await a.logout();
      const b = await flow(user, 'alice-pw', { port: imapsPort(), secure: true });
      assert.ok((await messages(b)) >= 1, `${user} over implicit TLS sees alice's INBOX`);
      await b.logout();
    }
  });

  test('Dovecot logs the client address forwarded by ID, and postern\'s session id', async () => {
    const mark = await dovecot.logMark();
    const c = await readImap(imapPort(), { localAddress: '127.0.0.2' });
    const reply = await c.command('a LOGIN alice alice-pw');
    assert.match(reply, /^a OK \[CAPABILITY [^\]]*IMAP4rev1[^\]]*\] /m);
    await c.command('b LOGOUT');
    c.close();
    const line = await dovecot.waitForLog(/imap-login: Info: Login: user=<alice>,.*rip=127\.0\.0\.2,.*session=<([^>]+)>/, 5000, { since: mark });
    const started = await postern.waitForLog((r) => r.event === 'proxy_started' && r.rip === '127.0.0.2');
    assert.equal(line[1], started.session, 'Dovecot shows postern\'s session id');
  });

  test('proxy_not_trusted sends no ID, and source_ip sets postern\'s address at the backend', async () => {
    const mark = await dovecot.logMark();
    const c = await readImap(imapPort(), { localAddress: '127.0.0.2' });
    assert.match(await c.command('a LOGIN alice.untrusted alice-pw'), /^a OK /m);
    await c.command('b LOGOUT');
    c.close();
    // Without ID, Dovecot sees postern's own connection: from source_ip, not the client's 127.0.0.2.
    const line = await dovecot.waitForLog(/imap-login: Info: Login: user=<alice>,.*rip=(127\.0\.0\.\d+),/, 5000, { since: mark });
    assert.equal(line[1], '127.0.0.3');
  });

  test('pipelined commands after LOGIN reach the backend', async () => {
    const c = await readImap(imapPort());
    const out = await c.command('a LOGIN alice alice-pw\r\nb SELECT INBOX\r\nc LOGOUT', /^c OK/m);
    assert.match(out, /^a OK /m);
    assert.match(out, /^b OK \[READ-WRITE\]/m);
    c.close();
  });

  test('a stopped backend gets [UNAVAILABLE] while other users go on', async () => {
    const before = await flow('alice', 'alice-pw');
    await down.stop();
    const c = await readImap(imapPort());
    assert.match(await c.command('a LOGIN dora dora-pw'), /^a NO \[UNAVAILABLE\] Account is temporarily unavailable\.\r\n$/m);
    assert.match(await c.command('b LOGIN nobody pw'), /^b NO \[UNAVAILABLE\] Account is temporarily unavailable\.\r\n$/m);
    c.close();
    const fail = await postern.waitForLog((r) => r.event === 'proxy_failed' && r.user === 'dora');
    assert.equal(fail.failure, 'connect');
    // The session opened before still works, and new ones too.
    assert.ok((await messages(before)) >= 1);
    await before.logout();
    const after = await flow('alice', 'alice-pw');
    await after.logout();
  });

  test('referral and nologin', async () => {
    const c = await readImap(imapPort());
    assert.match(await c.command('a LOGIN refer pw'), /^a NO \[REFERRAL imap:\/\/refer;AUTH=\*@imap\.example\.test\/\] /m);
    assert.match(await c.command('b LOGIN disabled pw'), /^b NO \[CONTACTADMIN\] Moved\.\r\n$/m);
    c.close();
  });
});
