// Connection limits, source addresses and spread-out disconnects, against real Dovecot backends
// with real clients (python imaplib and poplib) and byte-level clients for the accept-time refusals.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { dovecotSkipReason, makeTempDir, pollUntil, runPython, skipSuite, startDovecot, type DovecotInstance } from './harness/index.js';
import { startPostern, type TestPostern } from '../support/postern.js';
import { readImap, type ScriptedClient } from '../support/imap-client.js';

const skip = skipSuite('connection limits', dovecotSkipReason());

/** Everything the server says before it closes a connection from `localAddress`. */
function untilClosed(port: number, localAddress: string, timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, localAddress });
    let got = '';
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`still open after ${timeoutMs} ms; got ${JSON.stringify(got)}`));
    }, timeoutMs);
    s.setEncoding('latin1');
    s.on('data', (d: string) => (got += d));
    s.on('error', () => {});
    s.on('close', () => {
      clearTimeout(timer);
      resolve(got);
    });
  });
}

// imaplib/poplib with a chosen source address; a refused login prints REFUSED and the server's text.
const PY_CLIENTS = `
import imaplib, poplib, socket, sys, time
class Imap(imaplib.IMAP4):
    def __init__(self, port, src):
        self.src = src
        super().__init__('127.0.0.1', port)
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.src, 0))
class Pop(poplib.POP3):
    def __init__(self, port, src):
        self.src = src
        super().__init__('127.0.0.1', port)
    def _create_socket(self, timeout):
        return socket.create_connection((self.host, self.port), timeout, source_address=(self.src, 0))
def imap(port, src, user, pw):
    m = Imap(port, src)
    try:
        m.login(user, pw)
        return m
    except imaplib.IMAP4.error as e:
        print('REFUSED', e.args[0].decode() if isinstance(e.args[0], bytes) else e.args[0])
        return None
def pop(port, src, user, pw):
    p = Pop(port, src)
    try:
        p.user(user)
        p.pass_(pw)
        return p
    except poplib.error_proto as e:
        print('REFUSED', e.args[0].decode())
        return None
`;

describe('limits: per user+IP, per address, in total', { skip, timeout: 180_000 }, () => {
  let dovecot: DovecotInstance;
  let postern: TestPostern;
  let strict: TestPostern;
  let tmp: ReturnType<typeof makeTempDir>;

  before(async () => {
    tmp = makeTempDir('postern-limits-');
    dovecot = await startDovecot({ users: [{ name: 'alice', password: 'alice-pw' }, { name: 'bob', password: 'bob-pw' }], trustedNetworks: '127.0.0.0/8' });
    const passwd = join(tmp.path, 'users');
    writeFileSync(passwd, ['alice', 'bob'].map((u) => `${u}:{PLAIN}${u}-pw::::::proxy=y host=127.0.0.1 port=${dovecot.ports.imap}`).join('\n') + '\n');
    const pop3Passwd = join(tmp.path, 'pop3-users');
    writeFileSync(pop3Passwd, `alice:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${dovecot.ports.pop3}\n`);
    const common = { auth: { failure_delay: '0', passdb: [{ driver: 'passwd-file' as const, args: passwd }] }, proxy: { max_reconnects: 0 } };
    postern = await startPostern({
      ...common,
      listen: [{ protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'none' }],
      login_trusted_networks: ['127.0.0.9/32'],
      limits: { max_userip_connections: 20 },
    });
    // A second front for POP3, with its own passwd-file pointing at the backend's POP3 port.
    strict = await startPostern({
      auth: { failure_delay: '0', passdb: [{ driver: 'passwd-file', args: pop3Passwd }] },
      proxy: { max_reconnects: 0 },
      listen: [
        { protocol: 'pop3', address: '127.0.0.1', port: 0, tls: 'none' },
        { protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'none' },
      ],
      login_trusted_networks: ['127.0.0.9/32'],
      limits: { max_userip_connections: 20, max_connections_per_address: 3, max_connections: 5 },
    });
  });

  after(async () => {
    await postern?.close();
    await strict?.close();
    await dovecot?.stop();
    tmp?.remove();
  });

  test('IMAP: the 21st session of one user from one address gets NO [LIMIT]; another user is fine; a closed one frees a place; trusted clients are exempt', async () => {
    const script = `${PY_CLIENTS}
port = int(sys.argv[1])
held = [imap(port, '127.0.0.1', 'alice', 'alice-pw') for i in range(20)]
print('HELD', sum(1 for m in held if m is not None))
imap(port, '127.0.0.1', 'alice', 'alice-pw')
print('BOB', 'OK' if imap(port, '127.0.0.1', 'bob', 'bob-pw') else 'NO')
print('OTHER-ADDRESS', 'OK' if imap(port, '127.0.0.2', 'alice', 'alice-pw') else 'NO')
trusted = [imap(port, '127.0.0.9', 'alice', 'alice-pw') for i in range(22)]
print('TRUSTED', sum(1 for m in trusted if m is not None))
held[0].logout()
for i in range(100):
    m = Imap(port, '127.0.0.1')
    try:
        m.login('alice', 'alice-pw')
        print('AFTER-CLOSE OK')
        break
    except imaplib.IMAP4.error:
        time.sleep(0.1)
`;
    const r = await runPython(script, [String(postern.port(0))], { timeoutMs: 90_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), [
      'HELD 20',
      'REFUSED [LIMIT] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=20)',
      'BOB OK',
      'OTHER-ADDRESS OK',
      'TRUSTED 22',
      'AFTER-CLOSE OK',
    ]);
    const line = postern.logs.find((l) => l.event === 'limit_reached');
    assert.ok(line, 'one limit_reached line');
    assert.equal(line.limit, 'userip');
    assert.equal(line.user, 'alice');
    assert.equal(line.max, 20);
    assert.equal(postern.logs.filter((l) => l.event === 'limit_reached').length, 1, 'only the one refusal: trusted and other logins were not counted against it');
  });

  test('POP3: a trusted address is exempt from the per-address limit; a session over max_userip_connections gets -ERR [IN-USE]', async () => {
    const script = `${PY_CLIENTS}
port = int(sys.argv[1])
held = [pop(port, '127.0.0.9', 'alice', 'alice-pw') for i in range(4)]
print('TRUSTED', sum(1 for p in held if p is not None))
`;
    // This front allows only 3 connections per address and 5 in all: from the trusted address, 4 fit.
    const r = await runPython(script, [String(strict.port(0))], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n'), ['TRUSTED 4']);
    const limited = await startPostern({
      auth: { failure_delay: '0', passdb: [{ driver: 'passwd-file', args: join(tmp.path, 'pop3-users') }] },
      proxy: { max_reconnects: 0 },
      listen: [{ protocol: 'pop3', address: '127.0.0.1', port: 0, tls: 'none' }],
      limits: { max_userip_connections: 2 },
    });
    try {
      const r2 = await runPython(`${PY_CLIENTS}
port = int(sys.argv[1])
held = [pop(port, '127.0.0.1', 'alice', 'alice-pw') for i in range(2)]
print('HELD', sum(1 for p in held if p is not None))
pop(port, '127.0.0.1', 'alice', 'alice-pw')
`, [String(limited.port(0))], { timeoutMs: 60_000 });
      assert.equal(r2.code, 0, r2.stderr);
      assert.deepEqual(r2.stdout.trim().split('\n'), ['HELD 2', 'REFUSED -ERR [IN-USE] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=2)']);
      assert.ok(limited.logs.some((l) => l.event === 'limit_reached' && l.limit === 'userip' && l.protocol === 'pop3'));
    } finally {
      await limited.close();
    }
  });

  test('at accept: the 4th connection from one address and the 6th in all are refused with a goodbye and closed', async () => {
    // Whatever the POP3 test left open has closed by now or is being closed: wait until nothing is counted.
    const open: ScriptedClient[] = [];
    try {
      for (let i = 0; i < 100 && strict.server.sessions.size > 0; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(strict.server.sessions.size, 0);
      for (let i = 0; i < 3; i++) open.push(await readImap(strict.port(1), { localAddress: '127.0.0.2' }));
      assert.equal(await untilClosed(strict.port(1), '127.0.0.2'), '* BYE Too many connections from your IP address.\r\n');
      assert.equal(await untilClosed(strict.port(0), '127.0.0.2'), '-ERR Too many connections from your IP address.\r\n', 'POP3 and IMAP count together');
      open.push(await readImap(strict.port(1), { localAddress: '127.0.0.3' }));
      open.push(await readImap(strict.port(1), { localAddress: '127.0.0.9' }));
      assert.equal(await untilClosed(strict.port(1), '127.0.0.4'), '* BYE Connection queue full\r\n');
      assert.equal(await untilClosed(strict.port(0), '127.0.0.9'), '-ERR Connection queue full\r\n', 'trusted clients count in the total');
      open.pop()!.close();
      for (let i = 0; i < 100 && strict.server.sessions.size > 4; i++) await new Promise((r) => setTimeout(r, 50));
      open.push(await readImap(strict.port(1), { localAddress: '127.0.0.4' }));
      assert.match(open.at(-1)!.greeting, /^\* OK /, 'a place freed is a place again');
      const lines = strict.logs.filter((l) => l.event === 'limit_reached');
      assert.deepEqual(lines.map((l) => [l.limit, l.rip]), [['address', '127.0.0.2'], ['address', '127.0.0.2'], ['total', '127.0.0.4'], ['total', '127.0.0.9']]);
    } finally {
      for (const c of open) c.close();
    }
  });
});

describe('source addresses and spread-out disconnects', { skip, timeout: 180_000 }, () => {
  let dovecot: DovecotInstance;
  let postern: TestPostern;
  let tmp: ReturnType<typeof makeTempDir>;
  const SESSIONS = 20;
  const MAX_DELAY_MS = 3000;

  before(async () => {
    tmp = makeTempDir('postern-spread-');
    // No login_trusted_networks: Dovecot logs the connection's own address as rip, which is postern's source.
    dovecot = await startDovecot({ users: [{ name: 'alice', password: 'alice-pw' }] });
    const passwd = join(tmp.path, 'users');
    writeFileSync(passwd, `alice:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${dovecot.ports.imap}\n`);
    postern = await startPostern({
      listen: [{ protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'none' }],
      auth: { failure_delay: '0', passdb: [{ driver: 'passwd-file', args: passwd }] },
      proxy: { max_reconnects: 0, source_ips: ['127.0.0.2', '?127.0.0.3', '?192.0.2.200'], max_disconnect_delay: `${MAX_DELAY_MS}ms` },
    });
  });

  after(async () => {
    await postern?.close();
    await dovecot?.stop();
    tmp?.remove();
  });

  test('backend connects alternate between the source addresses; the clients of a dying backend are closed spread over the delay', async () => {
    const clients: ScriptedClient[] = [];
    try {
      const mark = await dovecot.logMark();
      for (let i = 0; i < SESSIONS; i++) {
        const c = await readImap(postern.port(0));
        assert.match(await c.command(`a LOGIN alice alice-pw`), /^a OK /m);
        clients.push(c);
      }
      // Dovecot's log lines may trail its replies.
      const rips = await pollUntil(async () => {
        const found = [...(await dovecot.logText()).slice(mark).matchAll(/Login: user=<alice>.*?rip=([0-9.]+)/g)].map((m) => m[1]);
        return found.length >= SESSIONS ? found : undefined;
      }, { timeoutMs: 10_000, intervalMs: 50, what: `${SESSIONS} Dovecot login lines` });
      assert.deepEqual(rips, Array.from({ length: SESSIONS }, (_, i) => (i % 2 === 0 ? '127.0.0.2' : '127.0.0.3')));

      const stopped = Date.now();
      const closedAt = clients.map((c) => c.closed(MAX_DELAY_MS + 20_000).then(() => Date.now() - stopped));
      await dovecot.stop();
      const after = (await Promise.all(closedAt)).sort((a, b) => a - b);
      // 20 clients over 3 s: 7 a second go at once, the others wait 1.2 s to 3 s (100 ms steps).
      const spread = after.at(-1)! - after[0]!;
      assert.ok(spread >= 1000, `closes spread over ${spread} ms: ${after.join(' ')}`);
      assert.ok(after.at(-1)! < MAX_DELAY_MS + 15_000, `the last close came ${after.at(-1)} ms after the stop`);
      // postern's side of the last connection may close a moment after the client saw it go.
      const ended = () => postern.logs.filter((l) => l.event === 'session_end' && l.reason === 'backend disconnected').length;
      for (let i = 0; i < 100 && ended() < SESSIONS; i++) await new Promise((r) => setTimeout(r, 50));
      assert.equal(ended(), SESSIONS);
    } finally {
      for (const c of clients) c.close();
    }
  });
});
