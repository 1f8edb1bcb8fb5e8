import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { test } from 'node:test';
import { NativeSocket, replaceNativeRelayForTest, type NativeSocketEvents } from '../net/index.js';
import { proxyConnect } from './connect.js';
import { joinSockets } from './pipe.js';
import type { BackendTarget } from './types.js';
import { imapBackend, lineLogin, loopbackServer } from '../../test/support/backend.js';
import { cleanupsAfterEach } from '../../test/support/cleanups.js';
import { readUntil, recorder, refusingRelay, socketPair } from '../../test/support/relay.js';

const cleanups = cleanupsAfterEach();

const server = (onConn: (s: Socket) => void) => loopbackServer(cleanups, onConn);

/** A client socket and our end of it (test/support/relay.ts), both destroyed after the test. */
async function clientPair(): Promise<[Socket, Socket]> {
  const pair = await socketPair();
  cleanups.push(() => pair.forEach((s) => s.destroy()));
  return pair;
}

/** A dial to `port` that has read the backend's greeting, with its recorded events. */
async function greetedDial(port: number, address = '127.0.0.1', source?: string) {
  const rec = recorder();
  const dial = NativeSocket.open(address, port, source, rec.events);
  assert.ok(dial, 'the addon is built here');
  cleanups.push(() => dial.destroy());
  await rec.until(() => rec.seen.some((e) => e.kind === 'data'), 'greeting');
  return { rec, dial };
}

test('a dial connects, reads, writes strings (UTF-8) and buffers, and corked writes arrive together and in order', async () => {
  const srv = await server((s) => s.write('* OK hello\r\n'));
  const rec = recorder();
  const dial = NativeSocket.open('127.0.0.1', srv.port, undefined, rec.events);
  assert.ok(dial, 'the addon is built here');
  cleanups.push(() => dial.destroy());
  await rec.until(() => rec.seen.some((e) => e.kind === 'data'), 'greeting');
  assert.deepEqual(rec.seen.map((e) => e.kind), ['connected', 'data']);
  assert.equal(rec.seen[1]!.arg, '* OK hello\r\n');
  assert.equal(dial.localAddress, '127.0.0.1');
  const got = readUntil(srv.conns[0]!, 'end\r\n');
  dial.write('a LOGIN j\u00fcrgen pw\r\n');
  dial.cork();
  dial.write('b NOOP\r\n');
  dial.write(Buffer.from('c NOOP\r\n'));
  dial.write('end\r\n');
  dial.uncork();
  assert.equal(await got, 'a LOGIN jürgen pw\r\nb NOOP\r\nc NOOP\r\nend\r\n');
});

test('a refused connection is an error event with the errno name, the address and port; then nothing', async () => {
  const srv = await server(() => {});
  const port = srv.port;
  await srv.close();
  const rec = recorder();
  const dial = NativeSocket.open('127.0.0.1', port, undefined, rec.events);
  assert.ok(dial);
  await rec.until(() => rec.seen.length > 0, 'event');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(rec.seen.map((e) => e.kind), ['error']);
  const err = rec.seen[0]!.arg as NodeJS.ErrnoException;
  assert.equal(err.code, 'ECONNREFUSED');
  assert.match(err.message, new RegExp(`^connect ECONNREFUSED`));
  assert.equal(dial.destroyed, true);
});

test('a source address that is not ours fails at once, as a thrown EADDRNOTAVAIL; a foreign family is refused', () => {
  assert.throws(() => NativeSocket.open('127.0.0.1', 9, '192.0.2.200', recorder().events), (e: NodeJS.ErrnoException) => e.code === 'EADDRNOTAVAIL' && /^bind EADDRNOTAVAIL 127\.0\.0\.1:9$/.test(e.message));
  assert.throws(() => NativeSocket.open('127.0.0.1', 9, '::1', recorder().events), /IP addresses of one family/);
  assert.throws(() => NativeSocket.open('backend.example', 9, undefined, recorder().events), /IP addresses/);
});

test("the backend's FIN is a closed event; destroy() closes our side, and no event follows it", async () => {
  const srv = await server((s) => s.end('* BYE\r\n'));
  const rec = recorder();
  const dial = NativeSocket.open('127.0.0.1', srv.port, undefined, rec.events);
  await rec.until(() => rec.seen.some((e) => e.kind === 'closed'), 'closed');
  assert.deepEqual(rec.seen.map((e) => e.kind), ['connected', 'data', 'closed']);
  assert.equal(dial!.destroyed, true);
  const quiet = await server((s) => s.write('* OK\r\n'));
  const { rec: rec2, dial: dial2 } = await greetedDial(quiet.port);
  const ended = once(quiet.conns[0]!, 'end');
  dial2.destroy();
  await ended;
  quiet.conns[0]!.write('more\r\n');
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(rec2.seen.map((e) => e.kind), ['connected', 'data']);
});

test('toSocket() goes on as a net.Socket on the same connection, both ways', async () => {
  const srv = await server((s) => s.write('* OK\r\n'));
  const { rec, dial } = await greetedDial(srv.port);
  const socket = dial.toSocket();
  assert.equal(dial.destroyed, true, 'the dial no longer owns it');
  const far = srv.conns[0]!;
  const atFar = readUntil(far, 'up\r\n');
  socket.write('up\r\n');
  assert.equal(await atFar, 'up\r\n');
  const atUs = readUntil(socket, 'down\r\n');
  far.write('down\r\n');
  assert.equal(await atUs, 'down\r\n');
  assert.deepEqual(rec.seen.map((e) => e.kind), ['connected', 'data'], 'no event reaches the dial after');
  socket.destroy();
});

test('toSocket() keeps what the dial could not write yet: it leaves first, in order', async () => {
  const srv = await server((s) => {
    s.pause();
    s.write('* OK\r\n');
  });
  const { rec, dial } = await greetedDial(srv.port);
  // More than loopback's socket buffers take while the far end does not read.
  const big = Buffer.alloc(16 * 2 ** 20, 'a');
  dial.write(big);
  const socket = dial.toSocket();
  socket.end('tail\r\n');
  const far = srv.conns[0]!;
  const chunks: Buffer[] = [];
  far.on('data', (c: Buffer) => chunks.push(c));
  far.resume();
  await once(far, 'end');
  const got = Buffer.concat(chunks);
  assert.equal(got.length, big.length + 6);
  assert.equal(got.subarray(0, big.length).equals(big), true);
  assert.equal(got.subarray(big.length).toString(), 'tail\r\n');
  socket.destroy();
});

test('what the backend sends once the login stopped listening is kept for whoever carries the session', async () => {
  const srv = await server((s) => s.write('* OK\r\n'));
  const { rec, dial } = await greetedDial(srv.port);
  dial.stopEvents();
  srv.conns[0]!.write('* 1 EXISTS\r\n');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(rec.seen.map((e) => e.kind), ['connected', 'data'], 'the login hears no more');
  const socket = dial.toSocket();
  const got = readUntil(socket, 'later\r\n');
  srv.conns[0]!.write('later\r\n');
  assert.equal(await got, '* 1 EXISTS\r\nlater\r\n');
  socket.destroy();
});

const target = (port: number, over: Partial<BackendTarget> = {}): BackendTarget => ({ host: '127.0.0.1', port, tls: 'none', verifyCert: false, user: 'u', nopipelining: false, notTrusted: false, timeoutMs: 5000, ...over });

/** proxyConnect with nativeDial against `port`: the dial it logged in on. */
async function dialledLogin(port: number): Promise<NativeSocket> {
  const r = await proxyConnect(target(port), lineLogin, { maxReconnects: 0, reconnectIntervalMs: 0, nativeDial: true });
  assert.equal(r.kind, 'ok');
  assert.ok(r.kind === 'ok' && r.socket instanceof NativeSocket);
  return r.socket;
}

test('proxyConnect with nativeDial: a login, then the relay takes the dial and carries the session both ways', async () => {
  const srv = await imapBackend(cleanups);
  const [client, clientSide] = await clientPair();
  const dial = await dialledLogin(srv.port);
  // Sent after the login's reply and read before the join: it follows the reply to the client.
  srv.conns[0]!.write('* 2 EXISTS\r\n');
  await new Promise((res) => setTimeout(res, 100));
  const pipe = joinSockets(clientSide, dial, { relay: 'auto', idleTimeoutMs: 60_000, reply: Buffer.from('a OK\r\n') });
  assert.equal(dial.destroyed, true, 'the relay owns the connection now');
  const got = readUntil(client, 'x OK noop\r\n');
  client.write('x NOOP\r\n');
  assert.equal(await got, 'a OK\r\n* 2 EXISTS\r\nx OK noop\r\n');
  srv.conns[0]!.end();
  const end = await pipe.done;
  assert.equal(end.reason, 'backend disconnected');
  assert.equal(end.bytesIn, 8);
});

test('proxyConnect with nativeDial: a backend that never answers times out, and its connection is closed', async () => {
  let closed = false;
  const srv = await server((s) => s.on('close', () => (closed = true)));
  const r = await proxyConnect(target(srv.port, { timeoutMs: 300 }), lineLogin, { maxReconnects: 0, reconnectIntervalMs: 0, nativeDial: true });
  assert.equal(r.kind, 'failed');
  if (r.kind === 'failed') {
    assert.equal(r.failure.kind, 'timeout');
    assert.match(r.failure.detail, /connect and login timed out/);
  }
  for (let i = 0; i < 100 && !closed; i++) await new Promise((res) => setTimeout(res, 10));
  assert.equal(closed, true);
});

test('proxyConnect with nativeDial: refused, and a backend gone during login, are connect failures', async () => {
  const gone = await server(() => {});
  const port = gone.port;
  await gone.close();
  const refused = await proxyConnect(target(port), lineLogin, { maxReconnects: 0, reconnectIntervalMs: 0, nativeDial: true });
  assert.equal(refused.kind, 'failed');
  if (refused.kind === 'failed') assert.match(refused.failure.detail, new RegExp(`127\\.0\\.0\\.1:${port}: connect ECONNREFUSED 127\\.0\\.0\\.1:${port}`));
  const bye = await server((s) => s.end('* BYE no\r\n'));
  const r = await proxyConnect(target(bye.port), lineLogin, { maxReconnects: 0, reconnectIntervalMs: 0, nativeDial: true });
  assert.equal(r.kind, 'failed');
  if (r.kind === 'failed') assert.equal(r.failure.detail, `127.0.0.1:${bye.port}: disconnected during login`);
});

test('when the relay refuses the session, the dialled backend goes on through the JavaScript pipe', async () => {
  const srv = await imapBackend(cleanups);
  const [client, clientSide] = await clientPair();
  const dial = await dialledLogin(srv.port);
  let refusedWith: string | undefined;
  const restore = replaceNativeRelayForTest(refusingRelay('relay: dup failed: Too many open files'));
  let pipe;
  try {
    pipe = joinSockets(clientSide, dial, { relay: 'auto', idleTimeoutMs: 60_000, reply: Buffer.from('a OK\r\n'), onRelayError: (m) => (refusedWith = m) });
  } finally {
    restore();
  }
  assert.match(refusedWith ?? '', /Too many open files/);
  const got = readUntil(client, 'y OK noop\r\n');
  client.write('y NOOP\r\n');
  assert.equal(await got, 'a OK\r\ny OK noop\r\n');
  client.end();
  assert.equal((await pipe.done).reason, 'client disconnected');
});

test('a dial to ::1 from ::1 (IPv6)', async (t) => {
  const srv = createServer((s) => s.end('* OK six\r\n'));
  try {
    await new Promise<void>((resolve, reject) => {
      srv.once('error', reject);
      srv.listen(0, '::1', resolve);
    });
  } catch {
    return t.skip('::1 is not usable here');
  }
  cleanups.push(() => new Promise((r) => srv.close(() => r())));
  const greeted = await greetedDial((srv.address() as AddressInfo).port, '::1', '::1');
  assert.equal(greeted.rec.seen.find((e) => e.kind === 'data')?.arg, '* OK six\r\n');
});
