import { describe, it, before } from 'node:test';
import assert from 'node:assert/strict';
import { connect as connectTcp, createServer, type AddressInfo, type Socket } from 'node:net';
import { connect, TLSSocket } from 'node:tls';
import { getTestCerts, type TestCerts } from '../../test/interop/harness/index.js';
import { createServerTls, serverHandshake } from './tls.js';
import { PosternError } from '../core/index.js';

/** One plain connection on loopback: the server's side and the client's. */
async function socketPair(): Promise<{ server: Socket; client: Socket; close: () => void }> {
  const listener = createServer();
  await new Promise<void>((r) => listener.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => listener.once('connection', r));
  const client = connectTcp((listener.address() as AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  const server = await accepted;
  return { server, client, close: () => (client.destroy(), server.destroy(), listener.close()) };
}

describe('serverHandshake', { timeout: 20_000 }, () => {
  let certs: TestCerts;
  /** A connection whose server side is a TLSSocket not yet shaken hands, and a counter of serverHandshake's failures. */
  const serverSide = async () => {
    const pair = await socketPair();
    const tls = createServerTls({ cert: certs.server.certPath, key: certs.server.keyPath, sni: [], min_version: 'TLSv1.2', cert_username_field: 'commonName' }, (p) => p);
    const failures = { count: 0 };
    return { pair, secure: new TLSSocket(pair.server, { isServer: true, ...tls.socketOptions }), failures, onFail: () => void failures.count++ };
  };

  before(async () => {
    certs = await getTestCerts();
  });

  it('settles when the client completes its handshake', async () => {
    const { pair, secure, failures, onFail } = await serverSide();
    try {
      const client = connect({ socket: pair.client, ca: certs.ca.cert, servername: 'localhost' });
      client.on('error', () => {});
      await serverHandshake(secure, 5000, onFail);
      assert.equal(failures.count, 0);
      assert.equal(secure.destroyed, false);
      client.destroy();
    } finally {
      pair.close();
    }
  });

  it('a client that never sends its hello is failed after the timeout, the socket destroyed', async () => {
    const { pair, secure, failures, onFail } = await serverSide();
    try {
      const closed = new Promise<void>((r) => pair.client.once('close', () => r()));
      const started = Date.now();
      await assert.rejects(serverHandshake(secure, 300, onFail), (err: unknown) => {
        assert.ok(err instanceof PosternError);
        assert.equal(err.code, 'POSTERN_TLS_HANDSHAKE');
        assert.match(err.message, /timed out/);
        return true;
      });
      assert.ok(Date.now() - started >= 250, 'not before the timeout');
      assert.equal(failures.count, 1);
      assert.equal(secure.destroyed, true);
      await closed;
    } finally {
      pair.close();
    }
  });

  it('a client that sends something other than TLS is failed at once, the timer cleared', async () => {
    const { pair, secure, failures, onFail } = await serverSide();
    try {
      const result = serverHandshake(secure, 400, onFail);
      pair.client.write('a001 LOGIN user pass\r\n');
      await assert.rejects(result, (err: unknown) => !(err instanceof PosternError) && err instanceof Error);
      assert.equal(failures.count, 1);
      assert.equal(secure.destroyed, true);
      await new Promise((r) => setTimeout(r, 600));
      assert.equal(failures.count, 1, 'the timer was cleared: no second failure when it would have fired');
    } finally {
      pair.close();
    }
  });
});
