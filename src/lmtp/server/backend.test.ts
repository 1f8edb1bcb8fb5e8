import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startFakeLmtp, type FakeLmtpOptions } from '../../../test/support/fake-lmtp-backend.js';
import { FILL_DESCRIPTORS, moduleUrl, underFileLimit } from '../../../test/support/child.js';
import { LmtpBackend, type BackendOptions } from './backend.js';

const base = { host: 'lmtp.backend.test', port: 0, timeoutMs: 5000, lhlo: 'postern.test' } satisfies Partial<BackendOptions>;

/** LmtpBackend.open against a fake LMTP server started with `fake`: what open said, and where connections came from. */
async function openAgainst(fake: Partial<FakeLmtpOptions>, opts: Partial<BackendOptions>): Promise<{ opened: Awaited<ReturnType<typeof LmtpBackend.open>>; peers: string[] }> {
  const b = await startFakeLmtp({ users: ['u'], ...fake });
  try {
    const opened = await LmtpBackend.open({ ...base, port: b.port, ...opts }, 's@x');
    if (opened.kind === 'open') opened.backend.quit();
    return { opened, peers: b.peers };
  } finally {
    await b.close();
  }
}

describe('LMTP backend connects: the source address follows the resolved address', { timeout: 20_000 }, () => {
  it('a name that resolves to IPv6 gets no IPv4 source address', async () => {
    const asked: Array<4 | 6> = [];
    const { opened, peers } = await openAgainst({ host: '::1' }, {
      resolve: async () => '::1',
      sourceIp: (family) => (asked.push(family), family === 4 ? '127.0.0.1' : undefined),
    });
    assert.equal(opened.kind, 'open');
    assert.deepEqual(asked, [6]);
    assert.deepEqual(peers, ['::1']);
  });

  it('a name that resolves to IPv4 connects from the next IPv4 source address', async () => {
    const { opened, peers } = await openAgainst({}, {
      resolve: async () => '127.0.0.1',
      sourceIp: (family) => (family === 4 ? '127.0.0.5' : '::1'),
    });
    assert.equal(opened.kind, 'open');
    assert.deepEqual(peers, ['127.0.0.5']);
  });

  it('a name that does not resolve fails as a connect failure, without a connect', async () => {
    // The system would find `localhost`, and a backend listens there: only the resolver's answer counts.
    const { opened, peers } = await openAgainst({}, { host: 'localhost', resolve: () => Promise.reject(new Error('ENOTFOUND')) });
    assert.deepEqual(opened, { kind: 'failed', reason: 'connect' });
    assert.deepEqual(peers, [], 'no connection was made');
  });
});

describe('LMTP backend connects out of descriptors', () => {
  it('a connection that cannot be made for want of descriptors fails as a connect failure and marks the process out of them', () => {
    const out = underFileLimit<{ answer: unknown; marked: boolean }>(128, `
      const { LmtpBackend } = await import(${moduleUrl('./backend.js', import.meta.url)});
      const { outOfDescriptorsAt } = await import(${moduleUrl('../../net/descriptors.js', import.meta.url)});
      ${FILL_DESCRIPTORS}
      const answer = await LmtpBackend.open({ host: '127.0.0.1', port: 9, timeoutMs: 3000, lhlo: 'postern' }, '<a@example.org>');
      for (const fd of fds) closeSync(fd);
      console.log(JSON.stringify({ answer, marked: outOfDescriptorsAt() > 0 }));`);
    assert.deepEqual(out, { answer: { kind: 'failed', reason: 'connect' }, marked: true });
  });
});
