import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { describe, test } from 'node:test';
import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { makeCert } from '../imap/front/session-harness.js';
import { joinSockets } from './pipe.js';
import { nativeRelayMissing, replaceNativeRelayForTest } from '../net/index.js';
import type { RelayMode } from './relay.js';
import { chatter, readSlowly, refusingRelay, socketPair } from '../../test/support/relay.js';

const MIB = 2 ** 20;

async function readAll(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  await once(s, 'end');
  return Buffer.concat(chunks);
}

/** The first `n` bytes the socket receives. */
function readN(s: Socket, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const onData = (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got < n) return;
      s.off('data', onData);
      resolve(Buffer.concat(chunks).subarray(0, n));
    };
    s.on('data', onData);
    s.once('error', reject);
    s.once('close', () => reject(new Error(`closed after ${got} of ${n} bytes`)));
  });
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the native relay is built here (npm ci builds native/relay.c)', () => {
  assert.equal(nativeRelayMissing, undefined);
});

test('relay: auto leaves a TLS session to the JavaScript pipe, which carries it', async () => {
  const { cert, key } = makeCert();
  const server = createTlsServer({ cert, key });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'secureConnection');
  const client = tlsConnect({ port: (server.address() as { port: number }).port, host: '127.0.0.1', rejectUnauthorized: false });
  const [clientSide] = (await accepted) as [TLSSocket];
  server.close();
  const [backend, backendSide] = await socketPair();
  const pipe = joinSockets(clientSide, backendSide, { relay: 'auto', idleTimeoutMs: 60_000, reply: Buffer.from('L OK\r\n') });
  assert.equal(clientSide.destroyed, false);
  assert.equal(backendSide.destroyed, false);
  const atClient = readAll(client);
  client.write('A1 NOOP\r\n');
  assert.equal((await readN(backend, 9)).toString(), 'A1 NOOP\r\n');
  backend.end('A1 OK\r\n');
  assert.equal((await atClient).toString(), 'L OK\r\nA1 OK\r\n');
  assert.equal((await pipe.done).reason, 'backend disconnected');
});

test('when the native relay refuses the sockets, the JavaScript pipe carries the session and loses no byte', async () => {
  const restore = replaceNativeRelayForTest(refusingRelay('relay: dup failed: Too many open files'));
  try {
    const [client, clientSide] = await socketPair();
    const [backend, backendSide] = await socketPair();
    // Bytes already read from each side but not yet taken: they must come through first.
    clientSide.pause();
    backendSide.pause();
    client.write('A1 NOOP\r\n');
    backend.write('* 3 EXISTS\r\n');
    for (let i = 0; i < 100 && (clientSide.readableLength === 0 || backendSide.readableLength === 0); i++) await sleep(10);
    assert.ok(clientSide.readableLength > 0 && backendSide.readableLength > 0, 'bytes wait unread on both sides');
    const errors: string[] = [];
    const pipe = joinSockets(clientSide, backendSide, { relay: 'auto', idleTimeoutMs: 60_000, reply: Buffer.from('L OK\r\n'), onRelayError: (m) => errors.push(m) });
    assert.deepEqual(errors, ['relay: dup failed: Too many open files']);
    assert.equal(clientSide.destroyed, false);
    const atClient = readAll(client);
    assert.equal((await readN(backend, 9)).toString(), 'A1 NOOP\r\n');
    backend.end('A1 OK\r\n');
    assert.equal((await atClient).toString(), 'L OK\r\n* 3 EXISTS\r\nA1 OK\r\n');
    assert.equal((await pipe.done).reason, 'backend disconnected');
  } finally {
    restore();
  }
});

for (const relay of ['js', 'auto'] as RelayMode[]) {
  describe(`relay: ${relay}`, { timeout: 60_000 }, () => {
    test('bytes flow both ways, the first bytes first, and a close from the backend ends the session', async () => {
      const [client, clientSide] = await socketPair();
      const [backend, backendSide] = await socketPair();
      const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000, reply: Buffer.from('L OK\r\n'), beforeBackend: Buffer.from('early\r\n'), beforeClient: Buffer.from('* 1 EXISTS\r\n') });
      // Plaintext on both sides: the native relay takes the sockets over at once.
      assert.equal(clientSide.destroyed, relay === 'auto');
      const toBackend = readAll(backend);
      const toClient = readAll(client);
      const big = randomBytes(MIB);
      client.write('A1 NOOP\r\n');
      backend.end(big);
      const got = await toClient;
      assert.equal(got.subarray(0, 18).toString('latin1'), 'L OK\r\n* 1 EXISTS\r\n');
      assert.equal(sha(got.subarray(18)), sha(big));
      client.end();
      assert.equal((await toBackend).toString(), 'early\r\nA1 NOOP\r\n');
      const end = await pipe.done;
      assert.equal(end.reason, 'backend disconnected');
      assert.equal(end.bytesIn, 'early\r\nA1 NOOP\r\n'.length);
      // The login reply is not counted; what followed it is.
      assert.equal(end.bytesOut, '* 1 EXISTS\r\n'.length + big.length);
    });

    test('a last short line with the FIN right behind it ends the session (no EOF is missed)', async () => {
      for (let i = 0; i < 20; i++) {
        const [client, clientSide] = await socketPair();
        const [backend, backendSide] = await socketPair();
        const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000 });
        const atClient = readAll(client);
        client.write('b LOGOUT\r\n');
        await readN(backend, 10);
        backend.end('* BYE Logging out\r\nb OK Logout completed.\r\n');
        assert.equal((await atClient).toString(), '* BYE Logging out\r\nb OK Logout completed.\r\n');
        assert.equal((await pipe.done).reason, 'backend disconnected');
      }
    });

    test('both directions at once keep every byte in order', async () => {
      const [client, clientSide] = await socketPair();
      const [backend, backendSide] = await socketPair();
      const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000 });
      const up = randomBytes(3 * MIB);
      const down = randomBytes(5 * MIB);
      const atBackend = readN(backend, up.length);
      const atClient = readN(client, down.length);
      // In pieces of odd sizes, so chunk boundaries fall anywhere.
      for (let i = 0; i < up.length; i += 77_777) client.write(up.subarray(i, i + 77_777));
      for (let i = 0; i < down.length; i += 12_345) backend.write(down.subarray(i, i + 12_345));
      assert.equal(sha(await atBackend), sha(up));
      assert.equal(sha(await atClient), sha(down));
      assert.deepEqual(pipe.bytes(), { bytesIn: up.length, bytesOut: down.length });
      const backendEnded = once(backend, 'end');
      client.end();
      await backendEnded;
      const end = await pipe.done;
      assert.equal(end.reason, 'client disconnected');
      assert.equal(end.bytesIn, up.length);
    });

    test('a dialogue of commands and replies goes on, one at a time, past the move to the relay thread', async () => {
      // The native relay serves a session's first commands on Node's loop, the rest on its thread.
      const [client, clientSide] = await socketPair();
      const [backend, backendSide] = await socketPair();
      const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000 });
      backend.on('data', (d: Buffer) => backend.write(d.toString().replace('NOOP', 'OK NOOP done')));
      for (let i = 1; i <= 12; i++) {
        const reply = readN(client, `A${i} OK NOOP done\r\n`.length);
        client.write(`A${i} NOOP\r\n`);
        assert.equal((await reply).toString(), `A${i} OK NOOP done\r\n`);
      }
      const backendEnded = once(backend, 'end');
      client.end();
      await backendEnded;
      const end = await pipe.done;
      assert.equal(end.reason, 'client disconnected');
      assert.equal(end.bytesIn, [...Array(12).keys()].reduce((n, i) => n + `A${i + 1} NOOP\r\n`.length, 0));
    });

    test('a slow reader holds back the other side, then gets every byte', async () => {
      const [client, clientSide] = await socketPair();
      const [backend, backendSide] = await socketPair();
      const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000 });
      client.pause();
      const big = randomBytes(48 * MIB);
      backend.write(big);
      await sleep(300);
      if (relay === 'js') {
        // At most the high-water mark and the chunk that crossed it.
        assert.ok(clientSide.writableLength <= clientSide.writableHighWaterMark + 64 * 1024, `${clientSide.writableLength} bytes queued`);
      }
      // The kernel's buffers are full and the relay reads no further: the backend cannot send it all.
      assert.ok(backend.writableLength > 0, 'back-pressure reached the backend');
      const got = readAll(client);
      client.resume();
      backend.end();
      assert.equal(sha(await got), sha(big));
      const end = await pipe.done;
      assert.equal(end.bytesOut, big.length);
    });

    test('destroy ends both sides with its reason', async () => {
      const [client, clientSide] = await socketPair();
      const [backend, backendSide] = await socketPair();
      const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000 });
      const closed = Promise.all([once(client, 'close'), once(backend, 'close')]);
      client.on('error', () => {});
      backend.on('error', () => {});
      pipe.destroy('kicked');
      assert.equal((await pipe.done).reason, 'kicked');
      await closed;
    });

    test('a farewell line reaches the client after what the backend said, then a FIN; the backend is closed', async () => {
      const [client, clientSide] = await socketPair();
      const [backend, backendSide] = await socketPair();
      const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000 });
      const atClient = readAll(client);
      backend.write('* OK still here\r\n');
      await sleep(50);
      const backendClosed = once(backend, 'close');
      backend.on('error', () => {});
      pipe.destroy('shutdown', '* BYE Server shutting down.\r\n');
      assert.equal((await atClient).toString(), '* OK still here\r\n* BYE Server shutting down.\r\n');
      await backendClosed;
      const end = await pipe.done;
      assert.equal(end.reason, 'shutdown');
      assert.equal(end.bytesOut, '* OK still here\r\n* BYE Server shutting down.\r\n'.length);
    });

    /** A joined pair whose client sends every 2 ms and does not read; the backend reads. */
    const chattering = async () => {
      const [client, clientSide] = await socketPair();
      const [backend, backendSide] = await socketPair();
      backend.on('error', () => {});
      const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000 });
      backend.resume();
      client.pause();
      return { client, backend, pipe, errors: chatter(client) };
    };

    // Input unread at the close would make the kernel reset the connection and drop what it still
    // held for the client: the close lingers, reading and dropping, until the client's FIN.
    test('a client that sends while the backend leaves still gets all the backend said last, then a FIN, not a reset', async () => {
      const { client, backend, pipe, errors } = await chattering();
      const big = randomBytes(8 * MIB);
      backend.end(big);
      await sleep(200);
      assert.equal(sha(await readSlowly(client)), sha(big));
      await once(client, 'close');
      assert.deepEqual(errors, []);
      assert.equal((await pipe.done).reason, 'backend disconnected');
    });

    test('a client that sends while its farewell waits gets what was on its way and the farewell, not a reset', async () => {
      const { client, backend, pipe, errors } = await chattering();
      backend.write(randomBytes(8 * MIB));
      await sleep(100);
      pipe.destroy('shutdown', '* BYE Server shutting down.\r\n');
      await sleep(100);
      assert.ok((await readSlowly(client)).toString('latin1').endsWith('* BYE Server shutting down.\r\n'));
      await once(client, 'close');
      assert.deepEqual(errors, []);
      assert.equal((await pipe.done).reason, 'shutdown');
    });

    test('a farewell asked again while the first waits on a client that reads nothing closes at once', async () => {
      const [client, clientSide] = await socketPair();
      const [backend, backendSide] = await socketPair();
      client.on('error', () => {});
      backend.on('error', () => {});
      const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000 });
      client.pause();
      backend.write(randomBytes(8 * MIB));
      await sleep(100);
      pipe.destroy('shutdown', '* BYE Server shutting down.\r\n');
      const first = await Promise.race([pipe.done, sleep(300).then(() => 'waiting')]);
      assert.equal(first, 'waiting', 'the farewell waits for the client');
      const closed = once(client, 'close');
      pipe.destroy('shutdown', '* BYE Server shutting down.\r\n');
      assert.equal((await pipe.done).reason, 'shutdown');
      client.resume();
      await closed;
    });

    test("a client that keeps its side open after the FIN is closed once the linger is over", async () => {
      const [client, clientSide] = await socketPair({ allowHalfOpen: true });
      const [backend, backendSide] = await socketPair();
      const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000 });
      const got = readAll(client);
      const t0 = Date.now();
      backend.end('* BYE going away\r\n');
      assert.equal((await got).toString(), '* BYE going away\r\n');
      assert.equal((await pipe.done).reason, 'backend disconnected');
      const lingered = Date.now() - t0;
      assert.ok(lingered >= 1500 && lingered < 5000, `closed ${lingered} ms after the FIN (linger: 2 s)`);
      client.destroy();
    });

    test('the idle timeout ends a session with no traffic, and traffic puts it off', async () => {
      const [client, clientSide] = await socketPair();
      const [backend, backendSide] = await socketPair();
      client.on('error', () => {});
      backend.on('error', () => {});
      const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 300 });
      const started = Date.now();
      backend.on('data', (d: Buffer) => backend.write(d));
      for (let i = 0; i < 4; i++) {
        client.write('A NOOP\r\n');
        await sleep(150);
      }
      const end = await pipe.done;
      assert.equal(end.reason, 'idle timeout');
      assert.ok(Date.now() - started >= 700, `ended after ${Date.now() - started} ms`);
    });

    test('a short idle timeout ends its session on time beside a session with a long one', async () => {
      // The native relay keeps its sessions' timers soonest first: the later session's comes before.
      const [client, clientSide] = await socketPair();
      const [backend, backendSide] = await socketPair();
      const long = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000 });
      const [client2, clientSide2] = await socketPair();
      const [backend2, backendSide2] = await socketPair();
      await sleep(50);
      const started = Date.now();
      const short = joinSockets(clientSide2, backendSide2, { relay, idleTimeoutMs: 200 });
      const end = await Promise.race([short.done, sleep(5_000).then(() => undefined)]);
      assert.equal(end?.reason, 'idle timeout', 'the 200 ms session was still open after 5 s');
      assert.ok(Date.now() - started >= 190, `ended after ${Date.now() - started} ms`);
      // The long one is untouched: it still carries bytes.
      const echoed = readN(backend, 9);
      client.write('A1 NOOP\r\n');
      assert.equal((await echoed).toString(), 'A1 NOOP\r\n');
      long.destroy('shutdown');
      assert.equal((await long.done).reason, 'shutdown');
      for (const s of [client, backend, client2, backend2]) s.destroy();
    });

    test('a reset from the client ends both sides with the error', async () => {
      const [client, clientSide] = await socketPair();
      const [backend, backendSide] = await socketPair();
      backend.on('error', () => {});
      const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000 });
      const backendClosed = once(backend, 'close');
      client.resetAndDestroy();
      const end = await pipe.done;
      assert.equal(end.reason, 'client error: read ECONNRESET');
      await backendClosed;
    });

    test('with a disconnect delay, the client is held, its input dropped, until its turn', async () => {
      const [client, clientSide] = await socketPair();
      const [backend, backendSide] = await socketPair();
      let asked = 0;
      const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000, clientCloseDelay: () => (asked++, 400) });
      const atClient = readAll(client);
      const atBackend = readAll(backend);
      backend.write('* BYE going away\r\n');
      backend.end();
      await atBackend;
      const t0 = Date.now();
      await sleep(100);
      client.write('A1 NOOP\r\n'); // read and dropped
      assert.equal((await atClient).toString(), '* BYE going away\r\n');
      const held = Date.now() - t0;
      assert.ok(held >= 250, `client closed after ${held} ms`);
      assert.equal(asked, 1);
      const end = await pipe.done;
      assert.equal(end.reason, 'backend disconnected');
      assert.equal(end.bytesIn, 'A1 NOOP\r\n'.length);
    });

    test('with a disconnect delay and a silent client, the client is closed at its turn', async () => {
      // The delay is JavaScript's answer, given after the native relay's thread went back to its
      // wait (due then at the idle timeout, a minute away): the answer must wake it.
      const [client, clientSide] = await socketPair();
      const [backend, backendSide] = await socketPair();
      const pipe = joinSockets(clientSide, backendSide, { relay, idleTimeoutMs: 60_000, clientCloseDelay: () => 300 });
      const atClient = readAll(client);
      const t0 = Date.now();
      backend.end('* BYE going away\r\n');
      const got = await Promise.race([atClient, sleep(5_000).then(() => undefined)]);
      assert.equal(got?.toString(), '* BYE going away\r\n', 'the client was still open after 5 s');
      const held = Date.now() - t0;
      assert.ok(held >= 250, `client closed after ${held} ms`);
      assert.equal((await pipe.done).reason, 'backend disconnected');
    });
  });
}
