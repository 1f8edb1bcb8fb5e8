// Self-test of the interop harness against a real Dovecot.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { ImapFlow } from 'imapflow';
import {
  canConnect,
  dovecotSkipReason,
  getTestCerts,
  requireBinary,
  runPython,
  skipSuite,
  startDovecot,
  waitForPortClosed,
  type DovecotInstance,
} from './index.js';

const USERS = [
  { name: 'alice', password: 'alice-secret' },
  { name: 'bob@example.test', password: 'p:w d"é' }, // survives the passwd-file format
];
const MASTER = { name: 'master', password: 'master-secret' };
const MESSAGE = Buffer.from(
  'From: Carol <carol@example.test>\r\nTo: alice@example.test\r\nSubject: =?UTF-8?Q?h=C3=A9llo?=\r\n' +
    'Message-ID: <harness-1@example.test>\r\n\r\nLine one\r\n\x80\xff 8-bit bytes\r\n.\r\nLast line\r\n',
  'latin1',
);

/** True if a TLS handshake to 127.0.0.1:port verifies against `ca` (hostname check on the IP SAN). */
function tlsVerifies(port: number, ca: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.setTimeout(5000, () => socket.destroy(new Error('timeout')));
    socket.once('error', () => resolve(false));
  });
}

const skip = skipSuite('dovecot harness', dovecotSkipReason(), requireBinary('python3'));

describe('dovecot harness', { skip }, () => {
  let dovecot: DovecotInstance;
  let deliveredPath: string;

  before(async () => {
    dovecot = await startDovecot({ users: USERS, masterUser: MASTER, trustedNetworks: '127.0.0.0/8' });
  });
  after(async () => {
    await dovecot?.stop();
  });

  it('listens on six distinct loopback ports and logs its start', async () => {
    const ports = Object.values(dovecot.ports);
    assert.equal(new Set(ports).size, 6);
    for (const port of ports) assert.ok(await canConnect(port));
    await dovecot.waitForLog(/master: Info: Dovecot v2\.3\.\S+ .*starting up/, 2000);
    assert.ok(dovecot.startupMs < 5000, `startup took ${dovecot.startupMs} ms`);
    // Ready only once master.pid is written: the pid is the running master's.
    assert.match(readFileSync(`/proc/${dovecot.masterPid}/cmdline`, 'utf8'), /dovecot\0-c\0/);
  });

  it('deliver() writes into Maildir new/ and IMAP returns the same bytes', async () => {
    deliveredPath = await dovecot.deliver('alice', MESSAGE);
    assert.match(deliveredPath, /\/mail\/alice\/new\/[^/]+$/);
    assert.deepEqual(await readFile(deliveredPath), MESSAGE);

    const client = new ImapFlow({
      host: dovecot.host, port: dovecot.ports.imap, secure: false, doSTARTTLS: false, logger: false,
      auth: { user: 'alice', pass: 'alice-secret' },
    });
    await client.connect();
    try {
      const lock = await client.getMailboxLock('INBOX');
      try {
        const message = await client.fetchOne('*', { source: true });
        assert.ok(message && message.source);
        assert.deepEqual(message.source, MESSAGE);
      } finally {
        lock.release();
      }
    } finally {
      await client.logout();
    }
  });

  it('IMAPS verifies against the test CA; the self-signed certificate does not', async () => {
    const client = new ImapFlow({
      host: dovecot.host, port: dovecot.ports.imaps, secure: true, logger: false,
      tls: { ca: dovecot.ca, rejectUnauthorized: true },
      auth: { user: 'bob@example.test', pass: 'p:w d"é' },
    });
    await client.connect();
    await client.logout();

    const { selfSigned } = await getTestCerts();
    assert.equal(await tlsVerifies(dovecot.ports.imaps, selfSigned.cert), false);
  });

  it('master user logs in with AUTHENTICATE PLAIN authzid', async () => {
    const mark = await dovecot.logMark();
    const client = new ImapFlow({
      host: dovecot.host, port: dovecot.ports.imap, secure: false, doSTARTTLS: false, logger: false,
      auth: { user: MASTER.name, pass: MASTER.password, authzid: 'alice', loginMethod: 'AUTH=PLAIN' },
    });
    await client.connect();
    try {
      const mailbox = await client.mailboxOpen('INBOX');
      assert.equal(mailbox.exists, 1);
    } finally {
      await client.logout();
    }
    await dovecot.waitForLog(/Master user logging in as alice/, 2000, { since: mark });
    await dovecot.waitForLog(/imap-login: Info: Login: user=<alice>, method=PLAIN/, 2000, { since: mark });
  });

  it('python imaplib: STARTTLS verified, ID x-originating-ip is logged as rip=', async () => {
    const mark = await dovecot.logMark();
    const { ca } = await getTestCerts();
    const script = `
import imaplib, ssl, sys
port, cafile = int(sys.argv[1]), sys.argv[2]
ctx = ssl.create_default_context(cafile=cafile)
m = imaplib.IMAP4('127.0.0.1', port)
m.starttls(ssl_context=ctx)
typ, data = m.xatom('ID', '("x-originating-ip" "192.0.2.7" "x-originating-port" "40123")')
print('ID', typ)
print('LOGIN', m.login('alice', 'alice-secret')[0])
typ, data = m.select('INBOX', readonly=True)
print('EXISTS', data[0].decode())
m.logout()
`;
    const result = await runPython(script, [String(dovecot.ports.imap), ca.certPath], { timeoutMs: 15_000 });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^ID OK$/m);
    assert.match(result.stdout, /^LOGIN OK$/m);
    assert.match(result.stdout, /^EXISTS 1$/m);
    const login = await dovecot.waitForLog(/imap-login: Info: Login: user=<alice>.* rip=(\S+?),/, 2000, { since: mark });
    assert.equal(login[1], '192.0.2.7');
  });

  it('python poplib over POP3S and LMTP delivery over TCP', async () => {
    const script = `
import poplib, smtplib, ssl, sys
pop3s, lmtp, cafile = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
l = smtplib.LMTP('127.0.0.1', lmtp)
l.ehlo('harness')
print('LMTP', l.sendmail('carol@example.test', ['bob@example.test'], b'Subject: via lmtp\\r\\n\\r\\nhello\\r\\n'))
l.quit()
p = poplib.POP3_SSL('127.0.0.1', pop3s, context=ssl.create_default_context(cafile=cafile))
p.user('bob@example.test')
print('PASS', p.pass_('p:w d"é').decode())
print('STAT', p.stat()[0])
p.quit()
`;
    const { ca } = await getTestCerts();
    const result = await runPython(script, [String(dovecot.ports.pop3s), String(dovecot.ports.lmtp), ca.certPath], {
      timeoutMs: 15_000,
    });
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^LMTP \{\}$/m);
    assert.match(result.stdout, /^PASS \+OK/m);
    assert.match(result.stdout, /^STAT 1$/m);
  });

  it('a second instance runs alongside, with its own ports, folder and a self-signed certificate', async () => {
    const { ca, selfSigned } = await getTestCerts();
    const second = await startDovecot({
      users: [{ name: 'dave', password: 'x' }], loginGreeting: 'second backend', cert: selfSigned,
    });
    try {
      assert.notEqual(second.dir, dovecot.dir);
      for (const port of Object.values(second.ports)) assert.ok(!Object.values(dovecot.ports).includes(port));
      assert.equal(second.ca, selfSigned.cert);
      assert.equal(await tlsVerifies(second.ports.imaps, ca.cert), false);
      assert.equal(await tlsVerifies(second.ports.imaps, second.ca), true);
      const result = await runPython(
        `import imaplib, sys\nm = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))\nprint(m.welcome.decode())\nprint(m.login('dave', 'x')[0])\nm.logout()`,
        [String(second.ports.imap)],
        { timeoutMs: 10_000 },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /second backend/);
    } finally {
      await second.stop();
    }
    await waitForPortClosed(second.ports.imap, 1000);
    assert.ok(!existsSync(second.dir));
  });

  it('stop() closes every port, removes the folder and is idempotent', async () => {
    const started = Date.now();
    await Promise.all([dovecot.stop(), dovecot.stop()]);
    const stopMs = Date.now() - started;
    for (const port of Object.values(dovecot.ports)) assert.equal(await canConnect(port), false);
    assert.ok(!existsSync(dovecot.dir));
    await dovecot.stop();
    console.log(`dovecot start ${dovecot.startupMs} ms, stop ${stopMs} ms`);
  });
});
