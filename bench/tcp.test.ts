// The congestion control the benchmark runs under: what it decides, and the namespace it makes for it.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { congestionControl, planCongestion } from './tcp.js';

const canUnshare = spawnSync('unshare', ['--net', 'true']).status === 0;

describe('the TCP congestion control of a benchmark run', () => {
  test('runs as it is when the machine already has the one asked for, or when asked for the machine\'s', () => {
    assert.deepEqual(planCongestion('cubic', 'cubic', {}), { kind: 'as-is', describe: "cubic (the machine's default)" });
    assert.deepEqual(planCongestion('system', 'bbr', {}), { kind: 'as-is', describe: "bbr (the machine's default, as --tcp-congestion system asks)" });
  });

  test('runs again in a namespace of its own when the machine has another, and there sets the one asked for', () => {
    assert.deepEqual(planCongestion('cubic', 'bbr', {}), { kind: 'rerun', algorithm: 'cubic', machine: 'bbr' });
    const inside = { BENCH_NETNS_CONGESTION: 'cubic', BENCH_MACHINE_CONGESTION: 'bbr' };
    // In the re-run the namespace reads the machine's value (a new namespace inherits it) until set.
    assert.deepEqual(planCongestion('cubic', 'bbr', inside), { kind: 'set-here', algorithm: 'cubic', describe: "cubic, in the benchmark's own network namespace (the machine's default: bbr)" });
  });

  test('the namespace: loopback carries a connection, the algorithm is set there and the machine keeps its own', { skip: canUnshare ? false : 'needs unshare --net (root)' }, () => {
    const before = congestionControl();
    const want = before === 'reno' ? 'cubic' : 'reno';
    const script = `
      const { setUpNamespace, congestionControl } = await import(${JSON.stringify(new URL('./tcp.js', import.meta.url).href)});
      const net = await import('node:net');
      setUpNamespace(${JSON.stringify(want)});
      const server = net.createServer((s) => s.end('hello')).listen(0, '127.0.0.1');
      await new Promise((r) => server.once('listening', r));
      const got = await new Promise((resolve, reject) => {
        const c = net.connect(server.address().port, '127.0.0.1');
        let text = '';
        c.on('data', (d) => (text += d)).on('end', () => resolve(text)).on('error', reject);
        setTimeout(() => reject(new Error('no reply in 5 s')), 5000).unref();
      });
      server.close();
      console.log(JSON.stringify({ cc: congestionControl(), got }));`;
    const r = spawnSync('unshare', ['--net', '--', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), { cc: want, got: 'hello' });
    assert.equal(congestionControl(), before);
  });

  test('an algorithm the kernel does not have is named as such', { skip: canUnshare ? false : 'needs unshare --net (root)' }, () => {
    const script = `
      const { setUpNamespace } = await import(${JSON.stringify(new URL('./tcp.js', import.meta.url).href)});
      try { setUpNamespace('no-such-algorithm'); console.log('set'); } catch (e) { console.log(e.message); }`;
    const r = spawnSync('unshare', ['--net', '--', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^cannot set TCP congestion control no-such-algorithm: the kernel has no such algorithm \(it offers: [a-z0-9 ]+\)$/m);
  });
});
