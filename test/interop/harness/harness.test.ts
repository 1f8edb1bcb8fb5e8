// Self-test of the harness pieces that need no Dovecot.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { renderPasswdFile } from './dovecot-config.js';
import {
  canConnect,
  freePorts,
  getTestCerts,
  HarnessTimeoutError,
  pollUntil,
  requireBinary,
  runPython,
  skipSuite,
  spawnProcess,
  wrapped,
} from './index.js';

describe('ports', () => {
  it('freePorts returns distinct, currently closed loopback ports', async () => {
    const ports = await freePorts(8);
    assert.equal(new Set(ports).size, 8);
    for (const port of ports) assert.equal(await canConnect(port), false);
  });
});

describe('wait', () => {
  it('pollUntil gives up after the bound', async () => {
    let calls = 0;
    const started = Date.now();
    await assert.rejects(
      pollUntil(() => {
        calls++;
        return undefined;
      }, { timeoutMs: 100, intervalMs: 20 }),
      HarnessTimeoutError,
    );
    assert.ok(calls <= 7, `${calls} calls`);
    assert.ok(Date.now() - started < 1000);
  });
});

describe('proc', () => {
  it('waitForOutput sees output; stop() is idempotent', async () => {
    const proc = spawnProcess('sh', ['-c', 'echo ready; sleep 30']);
    const match = await proc.waitForOutput(/ready/, 2000);
    assert.equal(match[0], 'ready');
    const [a, b] = await Promise.all([proc.stop(), proc.stop()]);
    assert.equal(a, b);
    assert.equal(a.signal, 'SIGTERM');
  });

  it('exited settles after the exit when a descendant outside the group keeps stdout open', async () => {
    // setsid takes the sleep out of the process group, so neither the exit nor killGroup ends it.
    const proc = spawnProcess('sh', ['-c', 'setsid sleep 30 & echo $!; exit 4'], { stdioGraceMs: 300 });
    const orphan = Number((await proc.waitForOutput(/^\d+/m, 5000))[0]);
    try {
      const t0 = Date.now();
      assert.equal((await proc.exited).code, 4);
      assert.ok(Date.now() - t0 < 5000, 'exited waited for the descendant');
      assert.equal((await proc.stop()).code, 4);
    } finally {
      process.kill(orphan, 'SIGKILL');
    }
  });

  it('waitForOutput rejects when the process exits without a match, and on timeout', async () => {
    const quick = spawnProcess('sh', ['-c', 'echo bye; exit 3']);
    await assert.rejects(quick.waitForOutput(/never/, 5000), /exited/);
    assert.equal((await quick.exited).code, 3);
    const slow = spawnProcess('sleep', ['30']);
    await assert.rejects(slow.waitForOutput(/never/, 50), HarnessTimeoutError);
    await slow.stop();
  });

  it('stop() escalates to SIGKILL when SIGTERM is ignored', async () => {
    const proc = spawnProcess('sh', ['-c', 'trap "" TERM; echo armed; while :; do sleep 0.05; done'], { stopTimeoutMs: 200 });
    await proc.waitForOutput(/armed/, 2000);
    assert.equal((await proc.stop()).signal, 'SIGKILL');
  });

  it('stop() kills what the leader left behind, at once or after stragglerGraceMs', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'harness-straggler-'));
    try {
      // The leader exits on SIGTERM; a child it started (in its group, ignoring SIGTERM, not holding the
      // leader's output open) writes a file 0.4 s later.
      const script = '(trap "" TERM; sleep 0.4; echo done > "$0") >/dev/null 2>&1 & echo started; trap "exit 0" TERM; while :; do sleep 0.05; done';
      for (const [name, grace, written] of [['killed', undefined, false], ['waited', 5000, true]] as const) {
        const file = join(dir, name);
        const proc = spawnProcess('sh', ['-c', script, file], grace !== undefined ? { stragglerGraceMs: grace } : {});
        await proc.waitForOutput(/started/, 2000);
        await proc.stop();
        await new Promise((r) => setTimeout(r, 600));
        assert.equal(existsSync(file), written, name);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('runPython returns exit code and output, and enforces its timeout', { skip: skipSuite('runPython', requireBinary('python3')) }, async () => {
    const ok = await runPython('import sys; print(sys.argv[1:]); sys.exit(4)', ['a', 'b c']);
    assert.deepEqual([ok.code, ok.stdout.trim(), ok.timedOut], [4, "['a', 'b c']", false]);
    const slow = await runPython('import time; time.sleep(30)', [], { timeoutMs: 200 });
    assert.equal(slow.timedOut, true);
  });

  it('wrapped() runs a command under its wrapper, whose process tree gets a minute to stop', async () => {
    assert.deepEqual(wrapped(undefined, 'dovecot', ['-F'], 5000), { command: 'dovecot', args: ['-F'], stop: { stopTimeoutMs: 5000 } });
    const w = wrapped(['env', 'WRAPPED=yes'], 'sh', ['-c', 'echo "$WRAPPED $0"', 'arg'], 5000);
    assert.deepEqual(w, { command: 'env', args: ['WRAPPED=yes', 'sh', '-c', 'echo "$WRAPPED $0"', 'arg'], stop: { stopTimeoutMs: 60_000, stragglerGraceMs: 60_000 } });
    const proc = spawnProcess(w.command, w.args, w.stop);
    await proc.exited;
    assert.equal(proc.stdout().trim(), 'yes arg');
  });
});

describe('certs', { skip: skipSuite('certs', requireBinary('openssl')) }, () => {
  it('server certificate chains to the CA and covers the names; the self-signed one does not chain', async () => {
    const certs = await getTestCerts({ extraNames: ['mail.example.test'] });
    const ca = new X509Certificate(certs.ca.cert);
    const server = new X509Certificate(certs.server.cert);
    assert.ok(ca.ca);
    assert.ok(server.verify(ca.publicKey));
    assert.equal(server.checkHost('localhost'), 'localhost');
    assert.equal(server.checkHost('mail.example.test'), 'mail.example.test');
    assert.equal(server.checkIP('127.0.0.1'), '127.0.0.1');
    assert.equal(server.checkIP('::1'), '::1');
    assert.ok(!new X509Certificate(certs.selfSigned.cert).verify(ca.publicKey));
    assert.equal(await getTestCerts({ extraNames: ['mail.example.test'] }), await getTestCerts({ extraNames: ['mail.example.test'] }));
    const other = await certs.issue(['other.example.test']);
    assert.equal(new X509Certificate(other.cert).checkHost('other.example.test'), 'other.example.test');
    assert.ok(new X509Certificate(other.cert).verify(ca.publicKey));
  });
});

describe('dovecot passwd-file', () => {
  it('stores any password as {PLAIN.b64} and rejects names that would break the format', () => {
    const line = renderPasswdFile([{ name: 'u@x', password: 'a:b\n', extraFields: { proxy: true, host: '127.0.0.1' } }], { uid: 1, gid: 2 }, '/h');
    assert.equal(line, `u@x:{PLAIN.b64}${Buffer.from('a:b\n').toString('base64')}:1:2::/h/u@x::proxy host=127.0.0.1\n`);
    assert.throws(() => renderPasswdFile([{ name: 'a:b', password: 'x' }], { uid: 1, gid: 2 }, '/h'));
    assert.throws(() => renderPasswdFile([{ name: '../x', password: 'x' }], { uid: 1, gid: 2 }, '/h'));
  });
});
