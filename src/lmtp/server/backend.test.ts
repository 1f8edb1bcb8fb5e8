import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeLmtp } from '../../../test/support/fake-lmtp-backend.js';
import { LmtpBackend, type BackendOptions } from './backend.js';

const base = { port: 0, timeoutMs: 5000, lhlo: 'postern.test' } satisfies Partial<BackendOptions>;

describe('LMTP backend connects: the source address follows the resolved address', { timeout: 20_000 }, () => {
  it('a name that resolves to IPv6 gets no IPv4 source address', async () => {
    const b = await startFakeLmtp({ users: ['u'], host: '::1' });
    const asked: Array<4 | 6> = [];
    try {
      const opened = await LmtpBackend.open({
        ...base, host: 'lmtp.backend.test', port: b.port,
        resolve: async () => '::1',
        sourceIp: (family) => (asked.push(family), family === 4 ? '127.0.0.1' : undefined),
      }, 's@x');
      assert.equal(opened.kind, 'open');
      if (opened.kind === 'open') opened.backend.quit();
      assert.deepEqual(asked, [6]);
      assert.deepEqual(b.peers, ['::1']);
    } finally {
      await b.close();
    }
  });

  it('a name that resolves to IPv4 connects from the next IPv4 source address', async () => {
    const b = await startFakeLmtp({ users: ['u'] });
    try {
      const opened = await LmtpBackend.open({
        ...base, host: 'lmtp.backend.test', port: b.port,
        resolve: async () => '127.0.0.1',
        sourceIp: (family) => (family === 4 ? '127.0.0.5' : '::1'),
      }, 's@x');
      assert.equal(opened.kind, 'open');
      if (opened.kind === 'open') opened.backend.quit();
      assert.deepEqual(b.peers, ['127.0.0.5']);
    } finally {
      await b.close();
    }
  });

  it('a name that does not resolve fails as a connect failure, without a connect', async () => {
    // The system would find `localhost`, and a backend listens there: only the resolver's answer counts.
    const b = await startFakeLmtp({ users: ['u'] });
    try {
      const opened = await LmtpBackend.open({ ...base, host: 'localhost', port: b.port, resolve: () => Promise.reject(new Error('ENOTFOUND')) }, 's@x');
      assert.deepEqual(opened, { kind: 'failed', reason: 'connect' });
      assert.deepEqual(b.peers, [], 'no connection was made');
    } finally {
      await b.close();
    }
  });
});
