import assert from 'node:assert/strict';
import { Socket } from 'node:net';
import { describe, it } from 'node:test';
import { TLSSocket } from 'node:tls';
import { AuthPolicy, makeAuthRequest, MemoryAuthenticator } from '../auth/index.js';
import { silentLogger } from '../log/index.js';
import { NativeSocket, nativeRelayMissing, type AnySocket, type Connection } from '../net/index.js';
import { proxyConfigSchema } from '../proxy/index.js';
import { imapBackend, lineLogin } from '../../test/support/backend.js';
import { cleanupsAfterEach } from '../../test/support/cleanups.js';
import { FrontConnection } from './front-connection.js';
import { LoginService } from './login.js';
import type { ProtocolLogin } from './types.js';

const proto: ProtocolLogin = {
  protocol: 'imap',
  defaultPort: 143,
  makeBackendLogin: () => {
    throw new Error('no backend in these tests');
  },
};

function service() {
  let t = 1_000_000;
  const waits: number[] = [];
  const policy = new AuthPolicy({ failureDelayMs: 2000, now: () => t, sleep: async (ms) => void waits.push(ms) });
  const login = new LoginService({
    authenticator: new MemoryAuthenticator({ alice: { password: 'right' }, gone: { password: 'pw', fields: { nologin: 'y', nodelay: 'y' } } }),
    proxy: proxyConfigSchema.parse({}),
    policy,
    isSelf: () => false,
  });
  const run = async (user: string, password: string, over: { remoteIp?: string; noPenalty?: boolean } = {}) => {
    waits.length = 0;
    const outcome = await login.login(makeAuthRequest({ user, password, remoteIp: over.remoteIp ?? '192.0.2.1', ...(over.noPenalty ? { noPenalty: true } : {}) }), proto, silentLogger());
    return { kind: outcome.kind, waits: [...waits] };
  };
  return { run, advance: (ms: number) => void (t += ms) };
}

describe('LoginService: failure delay and penalty', () => {
  it('delays failures and holds the next attempts from that address longer', async () => {
    const { run } = service();
    assert.deepEqual(await run('alice', 'a'), { kind: 'authFailed', waits: [2000] });
    assert.deepEqual(await run('alice', 'b'), { kind: 'authFailed', waits: [4000, 2000] });
    assert.deepEqual(await run('alice', 'c'), { kind: 'authFailed', waits: [8000, 2000] });
  });

  it('lets the right password through after the wait, which resets the address', async () => {
    const { run } = service();
    await run('alice', 'a');
    const ok = await run('alice', 'right');
    assert.deepEqual(ok.waits, [4000]);
    assert.equal(ok.kind, 'local');
    assert.deepEqual((await run('alice', 'x')).waits, [2000], 'no penalty left');
  });

  it('does not hold other addresses, nor trusted ones', async () => {
    const { run } = service();
    for (let i = 0; i < 4; i++) await run('alice', `guess${i}`, { remoteIp: '203.0.113.9' });
    assert.deepEqual((await run('alice', 'x', { remoteIp: '198.51.100.1' })).waits, [2000]);
    for (let i = 0; i < 4; i++) assert.deepEqual((await run('alice', `g${i}`, { noPenalty: true, remoteIp: '203.0.113.9' })).waits, [2000]);
  });

  it('answers nologin with nodelay at once', async () => {
    const { run } = service();
    assert.deepEqual(await run('gone', 'pw'), { kind: 'nologin', waits: [] });
  });
});

describe('LoginService: who dials the backend', () => {
  const skip = nativeRelayMissing !== undefined ? `the native relay is not built: ${nativeRelayMissing}` : false;

  const cleanups = cleanupsAfterEach();

  it('the relay dials a plain backend for a client it can carry, Node for one it cannot', { skip }, async () => {
    const { port } = await imapBackend(cleanups);
    const login = new LoginService({
      authenticator: new MemoryAuthenticator({ alice: { password: 'pw', fields: { proxy: 'y', host: '127.0.0.1', port: String(port) } } }),
      proxy: proxyConfigSchema.parse({}),
      isSelf: () => false,
    });
    for (const relayableClient of [true, false]) {
      const outcome = await login.login(makeAuthRequest({ user: 'alice', password: 'pw', remoteIp: '127.0.0.1' }), { ...proto, makeBackendLogin: lineLogin, relayableClient }, silentLogger());
      assert.equal(outcome.kind, 'proxied');
      if (outcome.kind !== 'proxied') return;
      assert.equal(outcome.socket instanceof NativeSocket, relayableClient, `relayableClient: ${relayableClient}`);
      outcome.socket.destroy();
      outcome.release?.();
    }
  });

  it('a front is relayable when plain, or in TLS the relay runs; not in Node\'s TLS', { skip }, async () => {
    const { port } = await imapBackend(cleanups);
    const conn = (socket: AnySocket, secured: boolean): Connection => ({ socket, secured, remoteIp: '127.0.0.1', remotePort: 1, localIp: '127.0.0.1', localPort: 2, listener: 'test' });
    const relayable = (socket: AnySocket, secured: boolean) => new FrontConnection(conn(socket, secured), { protocol: 'imap', log: silentLogger(), loginTimeoutMs: 1000, idleTimeoutMs: 1000, proxyTtl: 5 }).relayable;
    const native = NativeSocket.open('127.0.0.1', port, undefined, { connected: () => {}, data: () => {}, closed: () => {}, error: () => {} })!;
    cleanups.push(() => native.destroy());
    assert.equal(relayable(native, false), true, 'plain, native');
    assert.equal(relayable(native, true), true, 'TLS in the relay');
    assert.equal(relayable(new Socket(), false), true, 'plain, Node');
    assert.equal(relayable(new TLSSocket(new Socket()), true), false, 'Node TLS');
  });
});
