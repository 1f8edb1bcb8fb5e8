// The LMTP proxy's paths that need a real peer on each side: XCLIENT from a postern in front
// (and the TTL that stops two proxies pointing at each other), STARTTLS on postern's listener
// with python smtplib.LMTP, ssl=yes towards Dovecot's implicit-TLS LMTP listener with a verified
// certificate, and a backend connection cut in the middle of DATA in front of real Dovecot.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotSkipReason, findBinary, freePorts, getTestCerts, makeTempDir, pollUntil, skipSuite, startDovecot, type DovecotInstance } from './harness/index.js';
import { startPostern, type TestPostern } from '../support/postern.js';
import { deliverWithSmtplib } from '../support/lmtp-client.js';

const skip = skipSuite('lmtp proxy chain', dovecotSkipReason(), findBinary('python3') ? undefined : 'python3 not installed');

const MESSAGE = 'From: sender@example.test\r\nSubject: chain\r\n\r\nhello\r\n';


/** A TCP relay in front of a backend that cuts both sides once `cutAfter` bytes went towards the backend. */
async function startCuttingRelay(target: number, cutAfter: number): Promise<{ port: number; cuts: number; server: Server }> {
  const relay = { port: 0, cuts: 0, server: createServer() };
  const sockets = new Set<Socket>();
  relay.server.on('connection', (client) => {
    const upstream = connect({ host: '127.0.0.1', port: target });
    sockets.add(client).add(upstream);
    let sent = 0;
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('data', (chunk: Buffer) => {
      const room = cutAfter - sent;
      sent += chunk.length;
      upstream.write(room >= chunk.length ? chunk : chunk.subarray(0, Math.max(room, 0)));
      if (sent > cutAfter) {
        relay.cuts++;
        cut();
      }
    });
    upstream.on('data', (chunk: Buffer) => client.write(chunk));
    for (const s of [client, upstream]) {
      s.on('error', cut);
      s.on('close', () => {
        sockets.delete(s);
        cut();
      });
    }
  });
  await new Promise<void>((r) => relay.server.listen(0, '127.0.0.1', r));
  relay.port = (relay.server.address() as { port: number }).port;
  relay.server.on('close', () => {
    for (const s of sockets) s.destroy();
  });
  return relay;
}

describe('LMTP proxy chains, TLS both ways and a cut backend, against real Dovecot', { skip, timeout: 180_000 }, () => {
  let dove: DovecotInstance;
  let outer: TestPostern;
  let inner: TestPostern;
  let relay: Awaited<ReturnType<typeof startCuttingRelay>>;
  let tmp: ReturnType<typeof makeTempDir>;
  let caPath: string;

  before(async () => {
    tmp = makeTempDir('postern-lmtp-chain-');
    dove = await startDovecot({ users: [{ name: 'alice', password: 'a' }, { name: 'bob', password: 'b' }, { name: 'carol', password: 'c' }], trustedNetworks: '127.0.0.0/8' });
    relay = await startCuttingRelay(dove.ports.lmtp, 4096);
    const certs = await getTestCerts();
    caPath = join(tmp.path, 'ca.pem');
    writeFileSync(caPath, dove.ca);
    // Fixed ports: each postern's passdb names the other.
    const [outerPort, innerPort, outerTlsPort] = await freePorts(3);
    const users = (name: string, lines: string[]) => {
      const path = join(tmp.path, name);
      writeFileSync(path, [...lines, ''].join('\n'));
      return path;
    };
    const outerUsers = users('outer', [
      `alice@example.test:::::::proxy=y host=127.0.0.1 port=${innerPort}`,
      `loop@example.test:::::::proxy=y host=127.0.0.1 port=${innerPort}`,
      `bob.ssl@example.test:::::::proxy=y host=localhost port=${dove.ports.lmtps} ssl=yes destuser=bob`,
      `bob@example.test:::::::proxy=y host=127.0.0.1 port=${dove.ports.lmtp} destuser=bob`,
      `carol.cut@example.test:::::::proxy=y host=127.0.0.1 port=${relay.port} destuser=carol`,
    ]);
    const innerUsers = users('inner', [
      `alice@example.test:::::::proxy=y host=127.0.0.1 port=${dove.ports.lmtp} destuser=alice`,
      `loop@example.test:::::::proxy=y host=127.0.0.1 port=${outerPort}`,
    ]);
    const common = { login_trusted_networks: ['127.0.0.0/8'], proxy: { ca_file: caPath, ttl: 4, max_reconnects: 0 } };
    inner = await startPostern({
      ...common, listen: [{ protocol: 'lmtp', address: '127.0.0.1', port: innerPort! }], lmtp: { hostname: 'inner.postern.test' },
      auth: { failure_delay: '0', passdb: [{ driver: 'passwd-file', args: innerUsers }] },
    });
    outer = await startPostern({
      ...common, listen: [
        { protocol: 'lmtp', address: '127.0.0.1', port: outerPort!, tls: 'starttls' },
        { protocol: 'lmtp', address: '127.0.0.1', port: outerTlsPort!, tls: 'implicit' },
      ], lmtp: { hostname: 'outer.postern.test' },
      tls: { cert: certs.server.certPath, key: certs.server.keyPath },
      auth: { failure_delay: '0', passdb: [{ driver: 'passwd-file', args: outerUsers }] },
    });
  });

  after(async () => {
    await outer?.close();
    await inner?.close();
    await new Promise<void>((r) => (relay ? relay.server.close(() => r()) : r()));
    await dove?.stop();
    tmp?.remove();
  });

  async function lmtp(rcpts: string[], message = MESSAGE, ca = '') {
    return deliverWithSmtplib(String(outer.port(0)), rcpts, message, { ca, timeoutMs: 60_000 });
  }

  function stored(user: string): string[] {
    const root = dove.maildir(user);
    return ['new', 'cur'].flatMap((sub) => {
      try {
        return readdirSync(join(root, sub)).map((f) => readFileSync(join(root, sub, f), 'latin1'));
      } catch {
        return [];
      }
    });
  }
  const received = (m: string) => /^Received: from ([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)/m.exec(m)?.[1]?.replace(/\s+/g, ' ') ?? '';

  test('postern behind postern: the inner one takes XCLIENT from the outer, and Dovecot records the MTA\'s address', async () => {
    const out = await lmtp(['alice@example.test']);
    assert.equal(out.xclient_offered, true, 'the MTA is in login_trusted_networks too');
    assert.deepEqual(out.rcpt, ['250 2.1.5 OK']);
    assert.match(out.data[0]!, /^250 2\.0\.0 /);
    await pollUntil(() => stored('alice').length > 0 || undefined, { timeoutMs: 5000 });
    // Dovecot names the last hop's LHLO (inner) with the address XCLIENT carried from the first (the MTA's).
    assert.match(received(stored('alice')[0]!), /^inner\.postern\.test \(\[127\.0\.0\.2\]\)/);
    const xc = await inner.waitForLog((r) => r.event === 'lmtp_xclient');
    assert.deepEqual([xc.addr, xc.helo, xc.proto, xc.ttl], ['127.0.0.2', 'mta.example.test', 'LMTP', 3]);
    const d = await inner.waitForLog((r) => r.event === 'lmtp_delivery');
    assert.deepEqual([d.rcpt, d.backend, d.code, d.rip], ['alice@example.test', `127.0.0.1:${dove.ports.lmtp}`, 250, '127.0.0.2']);
  });

  test('two posterns routing a recipient to each other: the TTL runs out and the MTA gets 554 5.4.6', async () => {
    const out = await lmtp(['loop@example.test', 'bob@example.test']);
    assert.deepEqual(out.rcpt, ['554 5.4.6 Proxying appears to be looping (TTL=0)', '250 2.1.5 OK']);
    assert.match(out.data[0]!, /^250 2\.0\.0 /);
    // outer sends TTL 3, inner 2, outer 1, inner 0: the outer one refuses, on its third connection
    const loops = outer.logs.filter((r) => r.event === 'lmtp_loop');
    assert.equal(loops.length, 1);
    assert.equal(outer.logs.filter((r) => r.event === 'lmtp_xclient' && r.ttl === 0).length, 1);
  });

  test('STARTTLS on postern\'s listener, then ssl=yes to Dovecot\'s implicit-TLS LMTP with a verified certificate', async () => {
    const before = stored('bob').length;
    const out = await lmtp(['bob.ssl@example.test'], MESSAGE, caPath);
    assert.equal(out.starttls_offered, true);
    assert.equal(out.starttls, 220);
    assert.equal(out.starttls_after, false, 'no STARTTLS once TLS is on');
    assert.deepEqual(out.rcpt, ['250 2.1.5 OK']);
    assert.match(out.data[0]!, /^250 2\.0\.0 /);
    await pollUntil(() => stored('bob').length > before || undefined, { timeoutMs: 5000 });
    const newest = stored('bob').filter((m) => /^Received: [^;]*\(using TLS/m.test(m));
    assert.equal(newest.length, 1, 'Dovecot saw TLS on the LMTP session from postern');
  });

  test('implicit TLS on postern\'s listener: delivered, and no STARTTLS offered inside TLS', async () => {
    const before = stored('bob').length;
    const out = await deliverWithSmtplib(String(outer.port(1)), ['bob@example.test'], MESSAGE, { ca: caPath, implicitTls: true, timeoutMs: 60_000 });
    assert.equal(out.starttls_offered, false);
    assert.deepEqual(out.rcpt, ['250 2.1.5 OK']);
    assert.match(out.data[0]!, /^250 2\.0\.0 /);
    await pollUntil(() => stored('bob').length > before || undefined, { timeoutMs: 5000 });
  });

  test('the backend connection cut mid-DATA: 451 for its recipient only, the other is delivered, nothing half-delivered', async () => {
    const carol = stored('carol').length;
    const bob = stored('bob').length;
    const out = await lmtp(['carol.cut@example.test', 'bob@example.test'], 'BIG:200');
    assert.deepEqual(out.rcpt, ['250 2.1.5 OK', '250 2.1.5 OK']);
    assert.equal(out.data.length, 2);
    assert.match(out.data[0]!, /^451 4\.4\.0 Proxy failed \(connection lost, session=/);
    assert.match(out.data[1]!, /^250 2\.0\.0 /);
    assert.equal(relay.cuts, 1);
    await pollUntil(() => stored('bob').length > bob || undefined, { timeoutMs: 5000 });
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(stored('carol').length, carol, 'Dovecot never got the final dot for carol');
    const logged = outer.logs.filter((r) => r.event === 'lmtp_delivery' && r.rcpt === 'carol.cut@example.test');
    assert.deepEqual(logged.map((r) => r.code), [451]);
  });
});
