import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FILL_DESCRIPTORS, moduleUrl, underFileLimit } from '../../test/support/child.js';

test("a backend connection through Node's sockets that fails for want of descriptors marks the process out of them", () => {
  // A child with a limit of 128 fills its descriptors, then connects to a backend without the native dial.
  const out = underFileLimit<{ kind: string; detail: string; marked: boolean }>(128, `
    const { proxyConnect } = await import(${moduleUrl('./connect.js', import.meta.url)});
    const { outOfDescriptorsAt } = await import(${moduleUrl('../net/descriptors.js', import.meta.url)});
    ${FILL_DESCRIPTORS}
    const target = { host: '127.0.0.1', port: 9, tls: 'none', verifyCert: false, user: 'u', nopipelining: false, notTrusted: false, timeoutMs: 3000 };
    const login = () => ({ onConnected: () => [], onData: () => [] });
    const r = await proxyConnect(target, login, { maxReconnects: 0, reconnectIntervalMs: 0, nativeDial: false });
    for (const fd of fds) closeSync(fd);
    console.log(JSON.stringify({ kind: r.kind, detail: r.failure?.detail, marked: outOfDescriptorsAt() > 0 }));`);
  assert.equal(out.kind, 'failed');
  assert.match(out.detail, /EMFILE/);
  assert.equal(out.marked, true, 'outOfDescriptors was called');
});
