// process.accept with two workers of the real `postern serve`: with `gather` (the default) the first
// worker takes the new connections while it keeps up, even a burst of them; a first worker that stops
// (SIGSTOP) hands them to the second within about a second, and gets them back once it runs again;
// so does a first worker out of descriptors, though idle (a single process says so too). With
// `spread` the same burst is shared.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { freePorts, makeTempDir, pollUntil, spawnProcess, type ManagedProcess, type TempDir } from './harness/index.js';
import { readImap } from '../support/imap-client.js';

const BIN = join(process.cwd(), 'bin', 'postern.js');

interface Line {
  event?: string;
  worker?: number;
  pid?: number;
  [k: string]: unknown;
}

const lines = (p: ManagedProcess): Line[] =>
  p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);

/** The worker of each session_end line after `mark`, once there are `count`. */
const endsBy = (p: ManagedProcess, mark: number, count: number): Promise<number[]> =>
  pollUntil(() => {
    const ends = lines(p).slice(mark).filter((l) => l.event === 'session_end');
    return ends.length >= count ? ends.map((l) => l.worker!) : undefined;
  }, { timeoutMs: 10_000, intervalMs: 20, what: `${count} session_end lines` });

/** `count` clients at once, each greeted and logging out. */
async function burst(port: number, count: number): Promise<void> {
  await Promise.all(
    Array.from({ length: count }, async () => {
      const c = await readImap(port);
      await c.command('z LOGOUT', /^z OK/m);
      c.close();
    }),
  );
}

const TOKEN = 'accept-gather-admin-token-0123456789';

/** postern_accepting_workers from the admin API's /metrics. */
async function acceptingGauge(adminPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } });
  const m = /^postern_accepting_workers (\d+)$/m.exec(await res.text());
  assert.ok(m, 'the gauge is exposed');
  return Number(m[1]);
}

/** `fdLimit`: every process's open-file limit (prlimit), so that a worker runs out of descriptors. */
async function serve(tmp: TempDir, accept: string, port: number, adminPort: number, fdLimit?: number, workers = 2): Promise<ManagedProcess> {
  const config = join(tmp.path, `${accept}.yaml`);
  writeFileSync(join(tmp.path, 'token'), `${TOKEN}\n`);
  writeFileSync(
    config,
    [
      `process: { workers: ${workers}, accept: ${accept}, shutdown_timeout: 1s }`,
      'log: { level: info }',
      'listen:',
      `  - { protocol: imap, address: 127.0.0.1, port: ${port}, tls: none }`,
      'auth: { passdb: [{ driver: static, args: "proxy=y nopassword=y host=127.0.0.1 port=9" }] }',
      `admin: { listen: "127.0.0.1:${adminPort}", token_file: token }`,
      '',
    ].join('\n'),
  );
  const argv = [process.execPath, BIN, 'serve', '-c', config];
  const [file, ...args] = fdLimit === undefined ? argv : ['prlimit', `--nofile=${fdLimit}:${fdLimit}`, '--', ...argv];
  const p = spawnProcess(file!, args, { cwd: tmp.path, stopTimeoutMs: 10_000 });
  await pollUntil(() => lines(p).find((l) => l.event === 'started'), { timeoutMs: 20_000, intervalMs: 50, what: 'postern started' });
  return p;
}

describe('process.accept with two workers; a process out of descriptors', { timeout: 120_000 }, () => {
  let tmp: TempDir;
  const running: ManagedProcess[] = [];

  before(() => {
    tmp = makeTempDir('postern-accept-');
  });

  after(async () => {
    for (const p of running) await p.stop();
    tmp?.remove();
  });

  /** postern with two workers and `accept`, after 200 logins in bursts of 40: which worker served each. */
  async function afterBursts(accept: string): Promise<{ p: ManagedProcess; port: number; adminPort: number; ends: number[] }> {
    const [port, adminPort] = (await freePorts(2)) as [number, number];
    const p = await serve(tmp, accept, port, adminPort);
    running.push(p);
    const mark = lines(p).length;
    for (let round = 0; round < 5; round++) await burst(port, 40);
    return { p, port, adminPort, ends: await endsBy(p, mark, 200) };
  }

  test('gather: the first worker takes a burst alone; stopped, the second takes over; running again, it takes them back', async () => {
    const { p, port, adminPort, ends } = await afterBursts('gather');
    assert.deepEqual([...new Set(ends)], [0], 'worker 0 served every session');
    assert.equal(await acceptingGauge(adminPort), 1, 'one worker accepting');

    const first = lines(p).find((l) => l.event === 'worker_started' && l.worker === 0)!.pid!;
    process.kill(first, 'SIGSTOP');
    try {
      const mark = lines(p).length;
      const t0 = Date.now();
      await burst(port, 3);
      assert.ok(Date.now() - t0 < 5000, `greeted within 5 s (${Date.now() - t0} ms)`);
      assert.deepEqual(await endsBy(p, mark, 3), [1, 1, 1], 'worker 1 served them');
    } finally {
      process.kill(first, 'SIGCONT');
    }
    // Reporting again, the first worker is accepting on its own within a few reports.
    await pollUntil(async () => {
      const m = lines(p).length;
      await burst(port, 1);
      return (await endsBy(p, m, 1))[0] === 0 ? true : undefined;
    }, { timeoutMs: 10_000, intervalMs: 300, what: 'worker 0 accepting again' });
  });

  test('gather: a first worker out of descriptors leaves the new connections to the second, and takes them back once it has some', async () => {
    // 200 descriptors a process: a worker starts with about 25, keeps 32 back (net/descriptors.ts)
    // and holds one a client before login: about 140 clients each.
    const [port, adminPort] = (await freePorts(2)) as [number, number];
    const p = await serve(tmp, 'gather', port, adminPort, 200);
    running.push(p);
    const mark = lines(p).length;
    const clients = await Promise.all(Array.from({ length: 250 }, () => readImap(port)));
    assert.equal(clients.length, 250, 'every client greeted');
    for (const c of clients) await c.command('z LOGOUT', /^z OK/m);
    for (const c of clients) c.close();
    const ends = await endsBy(p, mark, 250);
    assert.deepEqual([...new Set(ends)].sort(), [0, 1], 'both workers served');
    assert.ok(lines(p).some((l) => l.event === 'descriptors_exhausted' && l.worker === 0), 'worker 0 said it ran out');
    // Its descriptors back, the first worker takes the new connections again (checked once a second).
    await pollUntil(async () => {
      const m = lines(p).length;
      await burst(port, 1);
      return (await endsBy(p, m, 1))[0] === 0 ? true : undefined;
    }, { timeoutMs: 10_000, intervalMs: 300, what: 'worker 0 accepting again' });
    assert.ok(lines(p).some((l) => l.event === 'descriptors_back' && l.worker === 0), 'and that it has some again');
  });

  test('a single process out of descriptors says so once, and again once it has some', async () => {
    const [port, adminPort] = (await freePorts(2)) as [number, number];
    const p = await serve(tmp, 'gather', port, adminPort, 200, 1);
    running.push(p);
    // About 140 clients fit (see above): the rest wait in the backlog.
    const sockets = Array.from({ length: 180 }, () => connect(port, '127.0.0.1').on('error', () => {}));
    try {
      await pollUntil(() => lines(p).find((l) => l.event === 'descriptors_exhausted'), { timeoutMs: 10_000, intervalMs: 50, what: 'descriptors_exhausted' });
    } finally {
      for (const s of sockets) s.destroy();
    }
    await pollUntil(() => lines(p).find((l) => l.event === 'descriptors_back'), { timeoutMs: 10_000, intervalMs: 50, what: 'descriptors_back' });
    assert.equal(lines(p).filter((l) => l.event === 'descriptors_exhausted').length, 1, 'said once');
    const c = await readImap(port);
    c.close();
  });

  test('spread: a burst is shared by both workers', async () => {
    const { adminPort, ends } = await afterBursts('spread');
    assert.deepEqual([...new Set(ends)].sort(), [0, 1], 'both workers served');
    assert.equal(await acceptingGauge(adminPort), 2, 'both accepting');
  });
});
