import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Allotment, placesPerAsk, Pool, type WorkerLink } from './total.js';
import type { ToPrimary, ToWorker } from './messages.js';

/** A primary's pool and `n` workers, their messages delivered on later turns as over IPC. */
function node(n: number, opts: { deaf?: number; connected?: () => boolean } = {}) {
  const pool = new Pool();
  const workers: Allotment[] = [];
  const links: WorkerLink[] = [];
  for (let i = 0; i < n; i++) {
    const link: WorkerLink = {
      send: (m: ToWorker) => {
        if (opts.deaf !== i) setImmediate(() => workers[i]!.onMessage(m));
      },
    };
    links.push(link);
    pool.join(link);
    workers.push(new Allotment({ send: (m: ToPrimary) => setImmediate(() => pool.onMessage(link, m)), connected: opts.connected ?? (() => true) }, n));
  }
  return { pool, workers, links };
}

async function takeMany(a: Allotment, count: number, max: number): Promise<number> {
  const got = await Promise.all(Array.from({ length: count }, () => a.take(max)));
  return got.filter(Boolean).length;
}

describe('limits.max_connections across workers', { timeout: 10_000 }, () => {
  test('one worker may hold every place when the kernel gives it every connection', async () => {
    const { workers } = node(2);
    const [a, b] = workers as [Allotment, Allotment];
    for (let i = 0; i < 40; i++) assert.equal(await a.take(40), true, `connection ${i + 1} of 40`);
    assert.equal(await a.take(40), false, 'the 41st on the same worker');
    assert.equal(await b.take(40), false, 'the 41st on the other worker');
    a.give();
    assert.equal(await b.take(40), true, 'a place given back serves the other worker');
    assert.equal(await a.take(40), false);
  });

  test('places taken at once from both workers never pass the limit, nor stop short of it', async () => {
    const { workers, pool } = node(2);
    const [a, b] = workers as [Allotment, Allotment];
    const [ga, gb] = await Promise.all([takeMany(a, 70, 100), takeMany(b, 70, 100)]);
    assert.equal(ga + gb, 100);
    assert.equal(a.counts.used + b.counts.used, 100);
    assert.equal(pool.counts.free, 0);
  });

  test('spare places go back to the pool as connections end', async () => {
    const { workers, pool } = node(2);
    const [a] = workers as [Allotment, Allotment];
    assert.equal(await takeMany(a, 1000, 1000), 1000);
    for (let i = 0; i < 1000; i++) a.give();
    await new Promise((r) => setImmediate(r));
    const block = placesPerAsk(1000, 2);
    assert.ok(a.counts.held <= 2 * block, `the worker keeps at most two blocks (${a.counts.held})`);
    assert.equal(pool.counts.free + a.counts.held, 1000);
  });

  test("a worker that exits gives its places back", async () => {
    const { workers, pool, links } = node(2);
    const [a, b] = workers as [Allotment, Allotment];
    assert.equal(await takeMany(a, 20, 20), 20);
    assert.equal(await b.take(20), false);
    pool.leave(links[0]!);
    assert.equal(await takeMany(b, 21, 20), 20);
  });

  test('a lower limit after a reload refuses until the count is under it', async () => {
    const { workers } = node(2);
    const [a, b] = workers as [Allotment, Allotment];
    assert.equal(await takeMany(a, 20, 100), 20);
    assert.equal(await b.take(10), false, 'already 20 open under a limit of 10');
    for (let i = 0; i < 11; i++) a.give();
    await new Promise((r) => setImmediate(r));
    assert.equal(await b.take(10), true, '9 open: one more fits');
    assert.equal(await a.take(10), false, '10 open');
    assert.equal(a.counts.used + b.counts.used, 10);
  });

  test('a lower limit takes back the places a worker holds under the old one', async () => {
    const { workers } = node(2);
    const [a, b] = workers as [Allotment, Allotment];
    assert.equal(await takeMany(a, 5, 10_000), 5);
    assert.equal(await takeMany(b, 5, 10_000), 5);
    assert.ok(a.counts.held > 10, 'a block under the old limit');
    assert.equal(await takeMany(a, 10, 12), 2, 'a holds spare places, but the node holds 10 of 12');
    assert.equal(await b.take(12), false);
  });

  test('a primary that goes away while a worker asks: the connection is counted by the worker alone', async () => {
    let up = true;
    const { workers } = node(2, { deaf: 0, connected: () => up });
    const [a] = workers as [Allotment, Allotment];
    // Worker 0 hears nothing from the primary: its ask hangs until the channel closes.
    const pending = a.take(10);
    await new Promise((r) => setTimeout(r, 20));
    up = false;
    a.disconnected();
    assert.equal(await pending, true);
    assert.equal(a.counts.used, 1);
  });

  test('a worker that does not answer a reclaim delays the refusal by a bounded time only', async () => {
    // The deaf worker never hears its answers, so its own take would hang: only the other takes.
    const [a] = node(2, { deaf: 1 }).workers as [Allotment, Allotment];
    assert.equal(await takeMany(a, 10, 10), 10);
    const t0 = Date.now();
    assert.equal(await a.take(10), false);
    const waited = Date.now() - t0;
    assert.ok(waited >= 400 && waited < 3000, `waited ${waited} ms`);
  });
});
