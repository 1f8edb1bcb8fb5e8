import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, connect, type Socket } from 'node:net';
import { test } from 'node:test';
import { joinSockets } from './pipe.js';

const MIB = 2 ** 20;

/** A connected pair of loopback sockets: [the far end, our end]. */
async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'connection');
  const far = connect(port, '127.0.0.1');
  const [ours] = (await accepted) as [Socket];
  server.close();
  await once(far, 'connect');
  return [far, ours];
}

async function readAll(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  await once(s, 'end');
  return Buffer.concat(chunks);
}

test('bytes flow both ways, the first bytes first, and a close from the backend ends the session', async () => {
  const [client, clientSide] = await socketPair();
  const [backend, backendSide] = await socketPair();
  const pipe = joinSockets(clientSide, backendSide, { idleTimeoutMs: 60_000, beforeBackend: Buffer.from('early\r\n'), beforeClient: Buffer.from('L OK\r\n') });
  const toBackend = readAll(backend);
  const toClient = readAll(client);
  const big = Buffer.alloc(MIB, 'x');
  client.write('A1 NOOP\r\n');
  backend.end(big);
  assert.equal((await toClient).toString('latin1'), `L OK\r\n${big.toString('latin1')}`);
  client.end();
  assert.equal((await toBackend).toString(), 'early\r\nA1 NOOP\r\n');
  const end = await pipe.done;
  assert.equal(end.reason, 'backend disconnected');
  assert.equal(end.bytesIn, 'early\r\nA1 NOOP\r\n'.length);
  assert.equal(end.bytesOut, 'L OK\r\n'.length + big.length);
});

test('a slow reader holds back the other side, then gets every byte', async () => {
  const [client, clientSide] = await socketPair();
  const [backend, backendSide] = await socketPair();
  const pipe = joinSockets(clientSide, backendSide, { idleTimeoutMs: 60_000 });
  client.pause();
  const big = Buffer.alloc(8 * MIB, 'y');
  backend.write(big);
  // The proxy stops reading the backend once its writes to the client back up.
  await new Promise((r) => setTimeout(r, 200));
  // At most the high-water mark and the chunk that crossed it.
  assert.ok(clientSide.writableLength <= clientSide.writableHighWaterMark + 64 * 1024, `${clientSide.writableLength} bytes queued`);
  const got = readAll(client);
  client.resume();
  backend.end();
  assert.equal((await got).length, big.length);
  const end = await pipe.done;
  assert.equal(end.bytesOut, big.length);
});

test('destroy ends both sides with its reason', async () => {
  const [client, clientSide] = await socketPair();
  const [backend, backendSide] = await socketPair();
  const pipe = joinSockets(clientSide, backendSide, { idleTimeoutMs: 60_000 });
  const closed = Promise.all([once(client, 'close'), once(backend, 'close')]);
  client.on('error', () => {});
  backend.on('error', () => {});
  pipe.destroy('kicked');
  assert.equal((await pipe.done).reason, 'kicked');
  await closed;
});
