// The accept path of a `haproxy: true` listener: the PROXY header first, from trusted peers only,
// then the protocol front (or implicit TLS) with the bytes that followed the header.
import { before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { connect as tlsConnect } from 'node:tls';
import { cleanupsAfterEach } from '../../test/support/cleanups.js';
import { getTestCerts, type TestCerts } from '../../test/interop/harness/index.js';
import { captureLogs } from '../../test/support/logs.js';
import { NetworkList } from './address.js';
import { listenConfigSchema } from './config.js';
import { nodeConnection, type Connection } from './connection.js';
import { Listener } from './listener.js';
import { encodeProxyV2 } from './proxy-protocol.js';
import { createServerTls } from './tls.js';

let certs: TestCerts;
before(async () => {
  certs = await getTestCerts();
});

const cleanups = cleanupsAfterEach();

interface Started {
  listener: Listener;
  port: number;
  conns: Connection[];
  nextConn(): Promise<Connection>;
  logs: Array<Record<string, unknown>>;
}

async function start(o: { trusted?: string[]; tls?: 'none' | 'implicit'; timeoutMs?: number } = {}): Promise<Started> {
  const { log, records: logs } = captureLogs();
  const tls = o.tls === 'implicit' ? createServerTls({ cert: certs.server.certPath, key: certs.server.keyPath, sni: [], min_version: 'TLSv1.2', cert_username_field: 'commonName' }, (p) => p) : undefined;
  const conns: Connection[] = [];
  const pending: Connection[] = [];
  const waiters: Array<(c: Connection) => void> = [];
  const config = listenConfigSchema.parse({ protocol: 'imap', address: '127.0.0.1', port: 0, tls: o.tls ?? 'none', haproxy: true });
  const listener = new Listener(config, tls, (c) => {
    conns.push(c);
    // A front subscribes at once, as ImapLoginSession.start() does.
    const chunks: Buffer[] = [];
    nodeConnection(c).socket.on('data', (d: Buffer) => chunks.push(d));
    (c as Connection & { received: Buffer[] }).received = chunks;
    const waiter = waiters.shift();
    if (waiter) waiter(c);
    else pending.push(c);
  }, log, { haproxyTrusted: new NetworkList(o.trusted ?? ['127.0.0.0/8']), ...(o.timeoutMs !== undefined ? { haproxyTimeoutMs: o.timeoutMs } : {}) });
  const addr = await listener.listen();
  cleanups.push(() => listener.destroy());
  return {
    listener,
    port: addr.port,
    conns,
    logs,
    nextConn: () => new Promise((resolve) => {
      const c = pending.shift();
      if (c) resolve(c);
      else waiters.push(resolve);
    }),
  };
}

function dial(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, noDelay: true }, () => resolve(s)).once('error', reject);
    cleanups.push(() => void s.destroy());
  });
}

const received = (c: Connection) => Buffer.concat((c as Connection & { received: Buffer[] }).received).toString('latin1');

async function until(what: string, pred: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const closed = (s: Socket) => new Promise<void>((resolve) => (s.destroyed ? resolve() : s.once('close', () => resolve())));

test('v1 header and the first command in one packet: real addresses, command pushed back to the front', async () => {
  const srv = await start();
  const c = await dial(srv.port);
  c.write('PROXY TCP4 192.0.2.7 198.51.100.1 56324 143\r\na1 LOGIN x y\r\n');
  const conn = await srv.nextConn();
  assert.deepEqual([conn.remoteIp, conn.remotePort, conn.localIp, conn.localPort, conn.secured], ['192.0.2.7', 56324, '198.51.100.1', 143, false]);
  await until('the command', () => received(conn) === 'a1 LOGIN x y\r\n');
});

test('v2 header split at every byte, then a command', async () => {
  const srv = await start();
  const c = await dial(srv.port);
  const header = encodeProxyV2({ ip: '2001:db8::7', port: 40000 }, { ip: '2001:db8::1', port: 993 });
  for (const byte of header) {
    c.write(Buffer.from([byte]));
    await new Promise((r) => setTimeout(r, 2));
  }
  const conn = await srv.nextConn();
  assert.deepEqual([conn.remoteIp, conn.remotePort, conn.localIp, conn.localPort], ['2001:db8::7', 40000, '2001:db8::1', 993]);
  c.write('a1 CAPABILITY\r\n');
  await until('the command', () => received(conn) === 'a1 CAPABILITY\r\n');
});

test('v2 LOCAL and v1 UNKNOWN keep the socket addresses', async () => {
  const srv = await start();
  const local = Buffer.from('0d0a0d0a000d0a515549540a20000000', 'hex');
  for (const header of [local, Buffer.from('PROXY UNKNOWN\r\n')]) {
    const c = await dial(srv.port);
    c.write(header);
    const conn = await srv.nextConn();
    assert.deepEqual([conn.remoteIp, conn.remotePort, conn.localIp, conn.localPort], ['127.0.0.1', c.localPort, '127.0.0.1', srv.port]);
  }
});

test('a peer outside haproxy_trusted_networks is closed unread, with a log line', async () => {
  const srv = await start({ trusted: ['10.0.0.0/8'] });
  const c = await dial(srv.port);
  c.on('error', () => {});
  c.write('PROXY TCP4 192.0.2.7 198.51.100.1 56324 143\r\n');
  await closed(c);
  assert.equal(srv.conns.length, 0);
  await until('the log line', () => srv.logs.some((l) => l.event === 'haproxy_refused' && /not in haproxy_trusted_networks/.test(String(l.reason)) && l.peer === '127.0.0.1'));
});

test('garbage, or a client speaking IMAP directly, is closed with a log line', async () => {
  const srv = await start();
  for (const junk of ['a1 LOGIN x y\r\n', 'PROXY TCP4 300.1.1.1 1.1.1.1 1 2\r\n', 'PROXY ' + 'x'.repeat(200)]) {
    const c = await dial(srv.port);
    c.on('error', () => {});
    c.write(junk);
    await closed(c);
  }
  assert.equal(srv.conns.length, 0);
  assert.equal(srv.logs.filter((l) => l.event === 'haproxy_refused' && /malformed PROXY header/.test(String(l.reason))).length, 3);
});

test('no header within the timeout: closed with a log line', async () => {
  const srv = await start({ timeoutMs: 150 });
  const c = await dial(srv.port);
  c.on('error', () => {});
  c.write('PROXY TCP4 192.0.2.7');
  const t0 = Date.now();
  await closed(c);
  assert.ok(Date.now() - t0 >= 100, 'waited for the timeout');
  assert.equal(srv.conns.length, 0);
  assert.ok(srv.logs.some((l) => l.event === 'haproxy_refused' && /no PROXY header within 150 ms/.test(String(l.reason))));
});

/** A stream that sends the PROXY header in the same write as the first TLS bytes (the ClientHello). */
function prefixing(raw: Socket, header: Buffer): Duplex {
  let first = true;
  const d = new Duplex({
    read: () => void raw.resume(),
    write(chunk: Buffer, _enc, cb) {
      raw.write(first ? Buffer.concat([header, chunk]) : chunk, cb);
      first = false;
    },
    final: (cb) => void raw.end(cb),
    destroy: (err, cb) => {
      raw.destroy();
      cb(err);
    },
  });
  raw.on('data', (c: Buffer) => void d.push(c));
  raw.on('end', () => d.push(null));
  return d;
}

test('implicit TLS after the header: header alone, and header sharing a packet with the ClientHello', async () => {
  const srv = await start({ tls: 'implicit' });
  const header = encodeProxyV2({ ip: '192.0.2.9', port: 51000 }, { ip: '198.51.100.1', port: 993 });
  const raws: Socket[] = [];
  for (const sameWrite of [false, true]) {
    const raw = await dial(srv.port);
    let transport: Socket | Duplex = raw;
    if (sameWrite) transport = prefixing(raw, header);
    else {
      raw.write(header);
      await new Promise((r) => setTimeout(r, 30));
    }
    const secure = tlsConnect({ socket: transport as Socket, ca: certs.ca.cert, servername: 'localhost' });
    cleanups.push(() => void secure.destroy());
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    const conn = await srv.nextConn();
    assert.deepEqual([conn.remoteIp, conn.remotePort, conn.localPort, conn.secured], ['192.0.2.9', 51000, 993, true], `same write: ${sameWrite}`);
    secure.write('a1 CAPABILITY\r\n');
    await until('the command over TLS', () => received(conn) === 'a1 CAPABILITY\r\n');
    const echo = new Promise<string>((resolve) => secure.once('data', (d: Buffer) => resolve(d.toString())));
    conn.socket.write('* OK hello\r\n');
    assert.equal(await echo, '* OK hello\r\n');
    raws.push(raw);
  }
  assert.equal(srv.listener.connectionCount, 2, 'one socket per client, the TLS one');
  srv.listener.destroy();
  // The client's TCP connections end: the raw one under the direct TLS socket and the one under the replay stream.
  await Promise.all(raws.map(closed));
});

test('configuration: haproxy only on TCP listeners', () => {
  assert.equal(listenConfigSchema.safeParse({ protocol: 'auth', path: '/tmp/x', haproxy: true }).success, false);
  assert.equal(listenConfigSchema.parse({ protocol: 'imap', port: 143 }).haproxy, undefined);
});
