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

  test('places that come with a reclaim in the same read belong to the takes that asked for them', async () => {
    const sent: ToPrimary[] = [];
    const a = new Allotment({ send: (m) => sent.push(m), connected: () => true }, 2);
    const takes = [a.take(100), a.take(100)];
    await new Promise((r) => setImmediate(r));
    const ask = sent.shift();
    assert.equal(ask?.t, 'places');
    // Node's IPC emits every message of one read in a row, with no microtask turn between them.
    a.onMessage({ t: 'placed', id: (ask as { id: number }).id, places: 3 });
    a.onMessage({ t: 'reclaim', id: 9 });
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(sent, [{ t: 'return', places: 1, reclaim: 9 }], 'only the third place was spare; no second ask');
    assert.deepEqual(await Promise.all(takes), [true, true]);
    assert.deepEqual(a.counts, { used: 2, held: 2 });
  });

  test("an ask whose reclaimed places went to another worker's ask reclaims again, and is refused only when none come back", async () => {
    const pool = new Pool();
    const to: ToWorker[][] = [[], []];
    const links: WorkerLink[] = to.map((box) => ({ send: (m: ToWorker) => box.push(m) }));
    for (const l of links) pool.join(l);
    const turn = () => new Promise((r) => setImmediate(r));
    const [w0, w1] = links as [WorkerLink, WorkerLink];
    const reclaimId = (box: ToWorker[]) => (box.find((m) => m.t === 'reclaim') as { id: number } | undefined)?.id;
    // max 4 over two workers: places come one at a time; worker 0 takes all four.
    for (let id = 1; id <= 4; id++) pool.onMessage(w0, { t: 'places', id, max: 4 });
    await turn();
    assert.equal(pool.counts.free, 0);
    to[0]!.length = 0;
    // Worker 1 asks: the pool is empty, so a reclaim. Worker 0 gives one place back, then asks
    // again before worker 1 has answered the reclaim, and is served at once from the free place.
    pool.onMessage(w1, { t: 'places', id: 1, max: 4 });
    await turn();
    const r1 = reclaimId(to[0]!);
    assert.ok(r1 !== undefined);
    pool.onMessage(w0, { t: 'return', places: 1, reclaim: r1 });
    pool.onMessage(w0, { t: 'places', id: 5, max: 4 });
    pool.onMessage(w1, { t: 'return', places: 0, reclaim: r1 });
    await turn();
    assert.equal(to[1]!.some((m) => m.t === 'placed'), false, 'worker 1 is not refused while the reclaim brought a place back');
    const r2 = reclaimId(to[0]!.filter((m) => m.t !== 'reclaim' || m.id !== r1));
    assert.ok(r2 !== undefined && r2 !== r1, 'a second reclaim');
    // Worker 0's connection ended meanwhile: it has one place to spare this time.
    pool.onMessage(w0, { t: 'return', places: 1, reclaim: r2 });
    pool.onMessage(w1, { t: 'return', places: 0, reclaim: r2 });
    await turn();
    assert.deepEqual(to[1]!.filter((m) => m.t === 'placed'), [{ t: 'placed', id: 1, places: 1 }]);
    // Full now: a reclaim brings nothing back, and the ask is refused after it.
    to[0]!.length = 0;
    to[1]!.length = 0;
    pool.onMessage(w1, { t: 'places', id: 2, max: 4 });
    await turn();
    const r3 = reclaimId(to[0]!);
    pool.onMessage(w0, { t: 'return', places: 0, reclaim: r3 });
    pool.onMessage(w1, { t: 'return', places: 0, reclaim: r3 });
    await turn();
    assert.deepEqual(to[1]!.filter((m) => m.t === 'placed'), [{ t: 'placed', id: 2, places: 0 }]);
    assert.equal(to[0]!.filter((m) => m.t === 'reclaim').length, 1, 'one reclaim only');
  });
});
