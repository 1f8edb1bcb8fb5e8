import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { before, test } from 'node:test';
import { connect as tlsConnect } from 'node:tls';
import { getTestCerts, type TestCerts } from '../../test/interop/harness/index.js';
import { queuedListener } from '../../test/support/listener.js';
import { cleanupsAfterEach } from '../../test/support/cleanups.js';
import { chatter, readSlowly, readUntil, recorder } from '../../test/support/relay.js';
import { endSocket, startServerTls } from './connection.js';
import { nativeRelayMissing } from './native.js';
import { NativeSocket, type AnySocket } from './native-socket.js';
import { createServerTls } from './tls.js';

const skip = nativeRelayMissing !== undefined ? `the native relay is not built: ${nativeRelayMissing}` : false;

let certs: TestCerts;
before(async () => {
  certs = await getTestCerts();
});

const cleanups = cleanupsAfterEach();

/** A queued IMAP listener (test/support/listener.ts); `tls: starttls` with the test certificates. */
function start(o: { nativeAccept?: boolean; tls?: 'none' | 'starttls'; address?: string } = {}) {
  const serverTls = o.tls === 'starttls' ? createServerTls({ cert: certs.server.certPath, key: certs.server.keyPath, sni: [], min_version: 'TLSv1.2', cert_username_field: 'commonName' }, (p) => p) : undefined;
  return queuedListener(cleanups, { ...o, ...(serverTls ? { serverTls } : {}) });
}

async function client(port: number, host = '127.0.0.1'): Promise<Socket> {
  const s = connect(port, host);
  s.on('error', () => {});
  cleanups.push(() => void s.destroy());
  await once(s, 'connect');
  return s;
}

test('every connection of a native listener is a NativeSocket with its addresses; it reads, writes, and ends with a FIN after its last line', { skip }, async () => {
  const { port, next, listener } = await start();
  const clients = await Promise.all(Array.from({ length: 20 }, () => client(port)));
  const conns = await Promise.all(clients.map(() => next()));
  assert.ok(conns.every((c) => c.socket instanceof NativeSocket), 'libuv accepted none of them');
  assert.equal(listener.connectionCount, 20);
  const byPort = new Map(conns.map((c) => [c.remotePort, c]));
  const first = clients[0]!;
  const conn = byPort.get(first.localPort!)!;
  assert.deepEqual([conn.remoteIp, conn.localIp, conn.localPort, conn.secured], ['127.0.0.1', '127.0.0.1', port, false]);

  const sock = conn.socket as NativeSocket;
  const rec = recorder();
  const greeted = readUntil(first, 'ready\r\n');
  sock.setEvents(rec.events);
  sock.write('* OK ready\r\n');
  await greeted;
  first.write('a CAPABILITY\r\n');
  await rec.until(() => rec.seen.length > 0, 'data');
  assert.deepEqual(rec.seen, [{ kind: 'data', arg: 'a CAPABILITY\r\n' }]);

  const ended = once(first, 'end');
  const last = readUntil(first, 'BYE\r\n');
  sock.end('* BYE\r\n');
  await last;
  await ended;
  assert.equal(sock.destroyed, true);
  assert.equal(listener.connectionCount, 19);
});

test('paused, a native connection reads nothing; resume() delivers what waited, in order, before it returns', { skip }, async () => {
  const { port, next } = await start();
  const c = await client(port);
  const sock = (await next()).socket as NativeSocket;
  const rec = recorder();
  sock.setEvents(rec.events);
  sock.pause();
  c.write('a LOGIN u p\r\n');
  c.write('b NOOP\r\n');
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(rec.seen.length, 0);
  sock.resume();
  assert.equal(rec.seen.map((e) => e.arg).join(''), 'a LOGIN u p\r\nb NOOP\r\n');
  c.end();
  await rec.until(() => rec.seen.some((e) => e.kind === 'closed'), 'closed');
  assert.equal(sock.destroyed, true);
});

test('more than one wake-up reads (16 chunks of 64 KiB) waiting in the socket is read to the end', { skip }, async () => {
  const { port, next } = await start();
  const c = await client(port);
  const sock = (await next()).socket as NativeSocket;
  let got = 0;
  let target = 0;
  let wake: (() => void) | undefined;
  sock.setEvents({ connected: () => {}, data: (b) => ((got += b.length), got >= target && wake?.()), closed: () => {}, error: () => {} });
  const reach = (n: number) =>
    new Promise<void>((resolve, reject) => {
      target = n;
      if (got >= n) return resolve();
      wake = resolve;
      setTimeout(() => reject(new Error(`${got} of ${n} bytes within 5 s`)), 5000);
    });
  // 16 MiB read as they come first: the kernel grows the connection's receive window.
  c.write(Buffer.alloc(16 << 20, 'a'));
  await reach(16 << 20);
  // Then 3 MiB while nothing reads: all of it waits in the socket, and no edge will come for it.
  sock.pause();
  c.write(Buffer.alloc(3 << 20, 'b'));
  await new Promise((r) => setTimeout(r, 300));
  sock.resume();
  await reach(19 << 20);
  assert.equal(got, 19 << 20);
});

test('bytes sent before anyone listens wait for setEvents(); a client that left meanwhile reads as destroyed', { skip }, async () => {
  const { port, next } = await start();
  const c = await client(port);
  c.write('early\r\n');
  const sock = (await next()).socket as NativeSocket;
  await new Promise((r) => setTimeout(r, 50));
  const rec = recorder();
  sock.setEvents(rec.events);
  await rec.until(() => rec.seen.length > 0, 'data');
  assert.deepEqual(rec.seen, [{ kind: 'data', arg: 'early\r\n' }]);

  const gone = await client(port);
  const goneSock = (await next()).socket as NativeSocket;
  gone.destroy();
  const deadline = Date.now() + 5000;
  while (!goneSock.destroyed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  assert.equal(goneSock.destroyed, true);
});

test('STARTTLS: the relay runs the handshake on the native connection, drops what came in the clear after the command, and the session goes on in TLS', { skip }, async () => {
  const { port, next } = await start({ tls: 'starttls' });
  const c = await client(port);
  const conn = await next();
  const sock = conn.socket as NativeSocket;
  const rec = recorder();
  sock.setEvents(rec.events);
  // Pipelined in the clear after STARTTLS: an injection the TLS session must never see.
  c.write('a STARTTLS\r\nb INJECTED\r\n');
  const text = (r: ReturnType<typeof recorder>) => r.seen.map((e) => String(e.arg ?? '')).join('');
  await rec.until(() => text(rec).includes('INJECTED'), 'STARTTLS');
  sock.stopEvents();
  sock.cork();
  sock.write('a OK Begin TLS negotiation now\r\n');
  const upgraded = startServerTls(conn, 5000);
  await readUntil(c, 'now\r\n');
  const secure = tlsConnect({ socket: c, ca: certs.ca.cert, servername: 'localhost' });
  secure.on('error', () => {});
  await Promise.all([upgraded, once(secure, 'secureConnect')]);
  assert.deepEqual([conn.secured, conn.serverName, conn.socket === sock, sock.encrypted], [true, 'localhost', true, true]);
  const after = recorder();
  sock.setEvents(after.events);
  secure.write('c NOOP\r\n');
  await after.until(() => after.seen.length > 0, 'the command in TLS');
  assert.equal(text(after), 'c NOOP\r\n');
  const back = readUntil(secure as unknown as Socket, 'done\r\n');
  sock.write('c OK done\r\n');
  await back;
  secure.destroy();
});

test('toSocket() carries what was read and not taken, and what was not written yet', { skip }, async () => {
  const { port, next } = await start();
  const c = await client(port);
  const sock = (await next()).socket as NativeSocket;
  c.write('pipelined\r\n');
  await new Promise((r) => setTimeout(r, 50));
  // The client reads nothing: 8 MiB cannot all leave at once, the rest waits in the connection.
  c.pause();
  const big = Buffer.alloc(8 * 1024 * 1024, 'x');
  sock.write(big);
  const s = sock.toSocket();
  cleanups.push(() => void s.destroy());
  assert.equal(sock.destroyed, true);
  assert.ok(s.writableLength > 0, 'some of the 8 MiB was still unsent when the net.Socket took over');
  const got = once(s, 'data');
  assert.equal(String((await got)[0]), 'pipelined\r\n');
  s.write('hello\r\n');
  // Counted as it comes (8 MiB as one string would be slow to search): every x, then the line.
  const want = big.length + 'hello\r\n'.length;
  let count = 0;
  let tail = Buffer.alloc(0);
  let onlyX = true;
  const done = new Promise<void>((resolve) => {
    c.on('data', (chunk: Buffer) => {
      const xs = Math.min(chunk.length, Math.max(0, big.length - count));
      if (chunk.subarray(0, xs).some((b) => b !== 0x78)) onlyX = false;
      count += chunk.length;
      tail = Buffer.concat([tail, chunk.subarray(xs)]);
      if (count >= want) resolve();
    });
  });
  c.resume();
  await Promise.race([done, new Promise((_, reject) => setTimeout(() => reject(new Error(`${count} of ${want} bytes within 20 s`)), 20_000))]);
  assert.equal(count, want);
  assert.ok(onlyX, 'the unsent bytes arrive as they were written');
  assert.equal(tail.toString(), 'hello\r\n');
});

test('closed, a native listener accepts no more, and the connections it accepted stay open', { skip }, async () => {
  const { port, next, listener } = await start();
  const c = await client(port);
  const sock = (await next()).socket as NativeSocket;
  await listener.close();
  const refused = connect(port, '127.0.0.1');
  const [err] = (await once(refused, 'error')) as [NodeJS.ErrnoException];
  assert.equal(err.code, 'ECONNREFUSED');
  const back = readUntil(c, 'still here\r\n');
  sock.write('still here\r\n');
  await back;
  sock.destroy();
});

test('IPv6: the addresses of a native connection, on a listener bound to ::1 and on one bound to every address', { skip }, async () => {
  const one = await start({ address: '::1' });
  const c = await client(one.port, '::1');
  const conn = await one.next();
  assert.ok(conn.socket instanceof NativeSocket);
  assert.deepEqual([conn.remoteIp, conn.remotePort, conn.localIp, conn.localPort], ['::1', c.localPort, '::1', one.port]);
  // Bound to ::, the local address comes from the connection itself; an IPv4 client reads as IPv4.
  const any = await start({ address: '::' });
  const v4 = await client(any.port, '127.0.0.1');
  const conn4 = await any.next();
  assert.ok(conn4.socket instanceof NativeSocket);
  assert.deepEqual([conn4.remoteIp, conn4.remotePort, conn4.localIp, conn4.localPort], ['127.0.0.1', v4.localPort, '127.0.0.1', any.port]);
});

for (const nativeAccept of [true, false]) {
  test(`ended while the client sends and reads slowly, a ${nativeAccept ? 'native' : 'Node'} connection delivers every byte, the last line and a FIN, not a reset`, { skip: nativeAccept && skip }, async () => {
    // The client's input, unread when the connection goes, would make the kernel reset it and drop
    // what it still held: endSocket() closes lingering, reading and dropping until the client's FIN.
    const { port, next } = await start({ nativeAccept });
    const c = await client(port);
    const conn = await next();
    c.pause();
    const errors = chatter(c);
    const big = randomBytes(2 * 2 ** 20);
    conn.socket.write(big);
    await new Promise((r) => setTimeout(r, 100));
    endSocket(conn.socket, '* BYE\r\n');
    const got = await readSlowly(c);
    await once(c, 'close');
    assert.equal(got.subarray(big.length).toString(), '* BYE\r\n');
    assert.ok(got.subarray(0, big.length).equals(big), 'every byte, in order');
    assert.deepEqual(errors, []);
  });
}

test('without nativeAccept (proxy.relay: js), connections are net.Sockets', async () => {
  const { port, next } = await start({ nativeAccept: false });
  await client(port);
  const conn = await next();
  assert.ok(!(conn.socket instanceof NativeSocket));
});

test('out of descriptors, the listener says so, does not spin, and accepts again once descriptors are free', { skip, timeout: 30_000 }, async () => {
  // A child postern listener left with 10 free descriptors: connections beyond them wait in the backlog.
  const script = `
    const { Listener, listenConfigSchema } = await import(${JSON.stringify(new URL('./index.js', import.meta.url).href)});
    const { createLogger } = await import(${JSON.stringify(new URL('../log/index.js', import.meta.url).href)});
    const { NativeSocket } = await import(${JSON.stringify(new URL('./native-socket.js', import.meta.url).href)});
    const log = createLogger({ format: 'json', level: 'info' }, process.stdout);
    const held = [];
    let freed = false;
    const l = new Listener(listenConfigSchema.parse({ protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'none' }), undefined, (c) => {
      if (!(c.socket instanceof NativeSocket)) process.stdout.write('{"event":"not_native"}\\n');
      if (freed) return c.socket.end('* OK\\r\\n');
      c.socket.write('* OK\\r\\n');
      held.push(c.socket);
    }, log, { nativeAccept: true });
    const { port } = await l.listen();
    const fs = await import('node:fs');
    const fillers = [];
    try { for (;;) fillers.push(fs.openSync('/dev/null', 'r')); } catch {}
    for (let i = 0; i < 10; i++) fs.closeSync(fillers.pop());
    process.stdout.write(JSON.stringify({ event: 'port', port }) + '\\n');
    process.stdin.on('data', () => { freed = true; for (const s of held.splice(0)) s.destroy(); });
    setInterval(() => {}, 1000);
  `;
  const child = spawn('bash', ['-c', `ulimit -n 256 && exec "${process.execPath}" --input-type=module -e "$0"`, script], { stdio: ['pipe', 'pipe', 'inherit'] });
  cleanups.push(() => void child.kill('SIGKILL'));
  const lines: Array<Record<string, unknown>> = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(JSON.parse(buf.slice(0, i)) as Record<string, unknown>);
      buf = buf.slice(i + 1);
    }
  });
  const waitFor = async (pred: () => boolean, what: string) => {
    const deadline = Date.now() + 10_000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`no ${what} within 10 s: ${JSON.stringify(lines)}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  await waitFor(() => lines.some((l) => l.event === 'port'), 'port');
  const port = lines.find((l) => l.event === 'port')!.port as number;
  const greeted = (s: Socket) => readUntil(s, '* OK\r\n').then(() => true, () => false);
  const socks = await Promise.all(Array.from({ length: 60 }, () => client(port)));
  const first = await Promise.all(socks.map((s) => greeted(s)));
  const served = first.filter(Boolean).length;
  assert.ok(served > 0 && served < 60, `some but not all greeted under the limit (${served})`);
  await waitFor(() => lines.some((l) => l.event === 'accept_failed'), 'accept_failed');
  const failed = lines.find((l) => l.event === 'accept_failed')!;
  assert.match(String(failed.err), /^accept E(M|N)FILE$/);
  // Not spinning: the child's CPU over one second stays low.
  const cpu = () => import('node:fs').then((fs) => fs.readFileSync(`/proc/${child.pid}/stat`, 'utf8').split(') ')[1]!.split(' ').slice(11, 13).reduce((a, b) => a + Number(b), 0));
  const t0 = await cpu();
  await new Promise((r) => setTimeout(r, 1000));
  assert.ok((await cpu()) - t0 < 50, 'the listener does not spin while out of descriptors');
  // Descriptors come back: the connections that waited are greeted.
  const waiting = socks.filter((_, i) => !first[i]);
  const later = Promise.all(waiting.map((s) => greeted(s)));
  child.stdin.write('free\n');
  assert.ok((await later).every(Boolean), 'every waiting connection was accepted once descriptors were free');
  assert.ok(!lines.some((l) => l.event === 'not_native'));
});
