import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import { before, test } from 'node:test';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { getTestCerts, type TestCerts } from '../../test/interop/harness/index.js';
import { queuedListener } from '../../test/support/listener.js';
import { cleanupsAfterEach } from '../../test/support/cleanups.js';
import { readUntil, recorder } from '../../test/support/relay.js';
import type { TlsConfig } from './config.js';
import { nativeAddon, nativeRelayMissing } from './native.js';
import { NativeSocket } from './native-socket.js';
import { createServerTls, type ServerTls } from './tls.js';

const skip = nativeRelayMissing !== undefined ? `the native relay is not built: ${nativeRelayMissing}` : false;

let certs: TestCerts;
before(async () => {
  certs = await getTestCerts();
});

const cleanups = cleanupsAfterEach();

function serverTls(extra: Partial<TlsConfig> = {}): ServerTls {
  return createServerTls({ cert: certs.server.certPath, key: certs.server.keyPath, sni: [], min_version: 'TLSv1.2', cert_username_field: 'commonName', ...extra }, (p) => p);
}

/** An implicit-TLS listener (test/support/listener.ts). */
function start(tls: ServerTls = serverTls()) {
  return queuedListener(cleanups, { tls: 'implicit', serverTls: tls });
}

async function tlsClient(port: number, o: { servername?: string; session?: Buffer } = {}): Promise<TLSSocket> {
  const s = tlsConnect({ port, host: '127.0.0.1', ca: certs.ca.cert, servername: o.servername ?? 'localhost', ...(o.session ? { session: o.session } : {}) });
  s.on('error', () => {});
  cleanups.push(() => void s.destroy());
  await once(s, 'secureConnect');
  return s;
}

/** What a recorder saw as data, joined. */
const text = (r: ReturnType<typeof recorder>) => r.seen.filter((e) => e.kind === 'data').map((e) => String(e.arg)).join('');

test('implicit TLS: the relay accepts and runs the handshake; the front gets a secured NativeSocket with the SNI name, and bytes flow both ways in TLS', { skip }, async () => {
  const { port, next, listener } = await start();
  const c = await tlsClient(port);
  const conn = await next();
  assert.ok(conn.socket instanceof NativeSocket, 'Node accepted the connection');
  const sock = conn.socket;
  assert.deepEqual([conn.secured, conn.serverName, sock.encrypted, listener.connectionCount], [true, 'localhost', true, 1]);
  const rec = recorder();
  sock.setEvents(rec.events);
  const greeted = readUntil(c as unknown as Socket, 'ready\r\n');
  sock.write('* OK ready\r\n');
  await greeted;
  c.write('a CAPABILITY\r\n');
  await rec.until(() => text(rec).includes('\r\n'), 'the command');
  assert.equal(text(rec), 'a CAPABILITY\r\n');
  // The last line, close_notify and FIN: the client reads the line and sees the end.
  const ended = once(c, 'end');
  const last = readUntil(c as unknown as Socket, 'BYE\r\n');
  sock.end('* BYE\r\n');
  await Promise.all([last, ended]);
});

test('a client that does not speak TLS fails the handshake: logged with its address, counted, and the listener serves the next', { skip }, async () => {
  const tls = serverTls();
  let failed = 0;
  tls.onHandshakeFailed = () => failed++;
  const { port, next, logs } = await start(tls);
  const plain = connect(port, '127.0.0.1');
  plain.on('error', () => {});
  cleanups.push(() => void plain.destroy());
  plain.write('a LOGIN alice secret\r\n');
  await once(plain, 'close');
  const line = logs.find((l) => l.event === 'tls_handshake_failed');
  assert.ok(line, 'no tls_handshake_failed line');
  assert.equal(line.rip, '127.0.0.1');
  assert.match(String(line.err), /^tls handshake: /);
  assert.equal(failed, 1);
  await tlsClient(port);
  assert.equal((await next()).secured, true);
});

test('SNI: the certificate of the name the client asks for, else the default one', { skip }, async () => {
  const other = await certs.issue(['mail.other.test']);
  const { port, next } = await start(serverTls({ sni: [{ names: ['*.other.test'], cert: other.certPath, key: other.keyPath }] }));
  const a = await tlsClient(port, { servername: 'mail.other.test' });
  assert.equal((await next()).serverName, 'mail.other.test');
  assert.deepEqual(a.getPeerCertificate().subjectaltname, 'DNS:mail.other.test');
  const b = await tlsClient(port);
  await next();
  assert.match(String(b.getPeerCertificate().subjectaltname), /DNS:localhost/);
});

test("a session ticket of one worker's listener resumes on another's (contexts built apart, keys shared)", { skip }, async () => {
  const one = await start(serverTls());
  const two = await start(serverTls());
  const first = await tlsClient(one.port);
  const [ticket] = (await once(first, 'session')) as [Buffer];
  await one.next();
  const again = await tlsClient(two.port, { session: ticket });
  await two.next();
  assert.equal(again.isSessionReused(), true);
});

test('the relay joins a TLS client to a plain backend: 4 MiB each way with the client slow to read, then its FIN ends the session', { skip }, async () => {
  const relay = nativeAddon()!;
  const { port, next } = await start();
  const c = await tlsClient(port);
  const sock = (await next()).socket as NativeSocket;
  const backendServer = createServer();
  await new Promise<void>((r) => backendServer.listen(0, '127.0.0.1', r));
  cleanups.push(() => void backendServer.close());
  const [backend, far] = await Promise.all([
    once(backendServer, 'connection').then(([s]) => s as Socket),
    new Promise<Socket>((resolve) => {
      const s = connect((backendServer.address() as AddressInfo).port, '127.0.0.1', () => resolve(s));
    }),
  ]);
  cleanups.push(() => void backend.destroy());
  let ended: { reason?: string; bytesIn?: number; bytesOut?: number } | undefined;
  const handle = relay.adopt(sock.handle()!, (far as unknown as { _handle: { fd: number } })._handle.fd, 0, false, undefined, Buffer.from('a OK in\r\n'), (kind, reason, bytesIn, bytesOut) => {
    if (kind === 2) ended = { reason, bytesIn, bytesOut };
    return undefined;
  });
  sock.adopted();
  far.destroy();
  assert.ok(handle);
  const size = 4 * 1024 * 1024;
  // Down: the backend writes 4 MiB, the client reads it late.
  c.pause();
  backend.write(Buffer.alloc(size, 'd'));
  await new Promise((r) => setTimeout(r, 100));
  let down = 0;
  const gotDown = new Promise<void>((resolve) => c.on('data', (b: Buffer) => ((down += b.length), down >= size + 9 && resolve())));
  c.resume();
  await gotDown;
  // Up: the client writes 4 MiB.
  let up = 0;
  const gotUp = new Promise<void>((resolve) => backend.on('data', (b: Buffer) => ((up += b.length), up >= size && resolve())));
  c.write(Buffer.alloc(size, 'u'));
  await gotUp;
  assert.deepEqual([down, up], [size + 9, size]);
  // The client's close_notify and FIN reach the backend as a FIN.
  const backendEnd = once(backend, 'end');
  c.end();
  await backendEnd;
  const deadline = Date.now() + 5000;
  while (!ended && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(ended, { reason: 'client disconnected', bytesIn: size, bytesOut: size + 9 });
});

test('toSocket() on a TLS connection: a net.Socket carries its plaintext (the relay keeps the TLS), with what was read and not taken', { skip }, async () => {
  const { port, next } = await start();
  const c = await tlsClient(port);
  const sock = (await next()).socket as NativeSocket;
  c.write('pipelined\r\n');
  await new Promise((r) => setTimeout(r, 50));
  sock.write('* greeting\r\n');
  const s = sock.toSocket();
  cleanups.push(() => void s.destroy());
  assert.equal(sock.destroyed, true);
  const got = once(s, 'data');
  assert.equal(String((await got)[0]), 'pipelined\r\n');
  const back = readUntil(c as unknown as Socket, 'hello\r\n');
  s.write('hello\r\n');
  assert.equal(await back, '* greeting\r\nhello\r\n');
  // The net.Socket's end reaches the client as the end of the TLS session.
  const ended = once(c, 'end');
  s.end();
  await ended;
});

test('a handshake under way ends with the listener: the client is closed at once, not at the handshake timer', { skip }, async () => {
  const { listener, port, logs } = await start();
  const silent = connect(port, '127.0.0.1');
  silent.on('error', () => {});
  cleanups.push(() => void silent.destroy());
  await once(silent, 'connect');
  const deadline = Date.now() + 5000;
  while (listener.connectionCount === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(listener.connectionCount, 1);
  const closed = once(silent, 'close');
  listener.destroy();
  await closed;
  await new Promise((r) => setImmediate(r));
  assert.equal(logs.find((l) => l.event === 'tls_handshake_failed')?.err, 'the connection closed during the TLS handshake');
});
