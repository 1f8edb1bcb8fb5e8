import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { PosternError } from '../core/index.js';
import { proxyConnect } from './connect.js';
import { canBind, SourceIps } from './source-ips.js';
import type { BackendLogin, BackendTarget } from './types.js';
import { NativeSocket, type AnySocket } from '../net/index.js';

const resolvers = {
  lookup: async (name: string) => ({ 'mail-out.example.test': ['192.0.2.1', '192.0.2.2', '2001:db8::1'], 'other-host.example.test': ['198.51.100.7'] })[name] ?? Promise.reject(new Error('ENOTFOUND')),
  usable: async (ip: string) => ip.startsWith('192.0.2.') || ip === '2001:db8::1',
};

test('round robin per address family', async () => {
  const s = await SourceIps.resolve(['mail-out.example.test', '192.0.2.3'], resolvers);
  assert.deepEqual([4, 4, 4, 4, 6, 6].map((f) => s.next(f as 4 | 6)), ['192.0.2.1', '192.0.2.2', '192.0.2.3', '192.0.2.1', '2001:db8::1', '2001:db8::1']);
  assert.equal((await SourceIps.resolve([], resolvers)).next(4), undefined, 'none: the system chooses');
});

test('?name keeps only addresses of this machine; without ?, a foreign address or an unknown name stops the start', async () => {
  const s = await SourceIps.resolve(['?other-host.example.test', '?mail-out.example.test'], resolvers);
  assert.deepEqual(s.addresses, ['192.0.2.1', '192.0.2.2', '2001:db8::1']);
  await assert.rejects(SourceIps.resolve(['other-host.example.test'], resolvers), (e: unknown) => e instanceof PosternError && e.code === 'POSTERN_SOURCE_IP' && /198\.51\.100\.7 \(other-host\.example\.test\) is not an address of this machine/.test(e.message));
  await assert.rejects(SourceIps.resolve(['203.0.113.5'], resolvers), /POSTERN_SOURCE_IP|not an address of this machine/);
  await assert.rejects(SourceIps.resolve(['nowhere.example.test'], resolvers), (e: unknown) => e instanceof PosternError && e.code === 'POSTERN_SOURCE_IP');
});

for (const nativeDial of [false, true]) test(`backend connects come from 127.0.0.2 and 127.0.0.3 in turn (Linux routes 127/8 to lo); source_ip wins (${nativeDial ? 'dialled by the native relay' : 'net.Socket'})`, async (t) => {
  if (!(await canBind('127.0.0.2')) || !(await canBind('127.0.0.3'))) return t.skip('127.0.0.2/127.0.0.3 not usable here');
  assert.equal(await canBind('192.0.2.200'), false, 'a documentation address is no address of ours');
  const seen: string[] = [];
  const server = createServer((sock) => {
    seen.push(sock.remoteAddress ?? '');
    sock.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const target: BackendTarget = { host: '127.0.0.1', port, tls: 'none', verifyCert: false, user: 'u', nopipelining: false, notTrusted: false, timeoutMs: 5000 };
  const login = (): BackendLogin => ({ onConnected: () => [{ kind: 'success', clientReply: '', leftover: Buffer.alloc(0) }], onData: () => [] });
  const sources = await SourceIps.resolve(['127.0.0.2', '?127.0.0.3', '?192.0.2.200']);
  const sockets: AnySocket[] = [];
  const from: Array<string | undefined> = [];
  try {
    for (const withField of [false, false, false, false, true]) {
      const r = await proxyConnect(withField ? { ...target, sourceIp: '127.0.0.5' } : target, login, { maxReconnects: 0, reconnectIntervalMs: 0, sourceIp: (f) => sources.next(f), nativeDial });
      assert.equal(r.kind, 'ok');
      if (r.kind === 'ok') {
        assert.equal(r.socket instanceof NativeSocket, nativeDial);
        from.push(r.socket.localAddress);
        sockets.push(r.socket);
      }
    }
    assert.deepEqual(from, ['127.0.0.2', '127.0.0.3', '127.0.0.2', '127.0.0.3', '127.0.0.5']);
    for (let i = 0; i < 200 && seen.length < 5; i++) await new Promise((r) => setTimeout(r, 10)); // the server's accept callbacks
    assert.deepEqual(seen.slice().sort(), ['127.0.0.2', '127.0.0.2', '127.0.0.3', '127.0.0.3', '127.0.0.5']);
  } finally {
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  }
});
