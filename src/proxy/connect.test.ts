import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';

test("a backend connection through Node's sockets that fails for want of descriptors marks the process out of them", () => {
  // A child with a limit of 128 fills its descriptors, then connects to a backend without the native dial.
  const url = (path: string) => JSON.stringify(new URL(path, import.meta.url).href);
  const script = `
    const { proxyConnect } = await import(${url('./connect.js')});
    const { outOfDescriptorsAt } = await import(${url('../net/descriptors.js')});
    const { openSync, closeSync } = await import('node:fs');
    const fds = [];
    try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch {}
    const target = { host: '127.0.0.1', port: 9, tls: 'none', verifyCert: false, user: 'u', nopipelining: false, notTrusted: false, timeoutMs: 3000 };
    const login = () => ({ onConnected: () => [], onData: () => [] });
    const r = await proxyConnect(target, login, { maxReconnects: 0, reconnectIntervalMs: 0, nativeDial: false });
    for (const fd of fds) closeSync(fd);
    console.log(JSON.stringify({ kind: r.kind, detail: r.failure?.detail, marked: outOfDescriptorsAt() > 0 }));`;
  const r = spawnSync('prlimit', ['--nofile=128:128', '--', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { kind: string; detail: string; marked: boolean };
  assert.equal(out.kind, 'failed');
  assert.match(out.detail, /EMFILE/);
  assert.equal(out.marked, true, 'outOfDescriptors was called');
});
