import { describe, it, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import type { Worker } from 'node:cluster';
import pino from 'pino';
import { AcceptGather, acceptingCount, JOIN_ABOVE, LEAVE_BELOW, LOAD_REPORT_MS } from './accept-gather.js';
import type { ToWorker } from './messages.js';

describe('acceptingCount', () => {
  it('one worker takes the connections while it is under half busy', () => {
    assert.equal(acceptingCount([0], 4), 1);
    assert.equal(acceptingCount([JOIN_ABOVE], 4), 1);
  });

  it('one more joins above half; as many again when the accepting ones are saturated; never more than there are', () => {
    assert.equal(acceptingCount([0.6], 4), 2);
    assert.equal(acceptingCount([0.7, 0.6], 4), 3);
    assert.equal(acceptingCount([0.95, 0.92], 8), 4);
    assert.equal(acceptingCount([1, 1, 1], 4), 4);
    assert.equal(acceptingCount([0.9], 1), 1);
  });

  it('one leaves when the others would carry the load below the lower mark, not between the marks', () => {
    assert.equal(acceptingCount([0.1, 0.1], 4), 1);
    assert.equal(acceptingCount([0.1, 0.1, 0.1], 4), 2);
    // 0.4 in all: one worker alone would be at 0.4, between the marks: stay at two.
    assert.equal(acceptingCount([0.2, 0.2], 4), 2);
    assert.equal(acceptingCount([LEAVE_BELOW / 2, LEAVE_BELOW / 2 - 0.01], 4), 1);
  });

  it('at least one, whatever it is given', () => {
    assert.equal(acceptingCount([], 2), 1);
  });
});

/** A cluster Worker as AcceptGather uses it: what it was told, and whether it is connected. */
function fakeWorker(): Worker & { told: boolean[] } {
  const told: boolean[] = [];
  return {
    told,
    isConnected: () => true,
    send: (m: ToWorker) => {
      if (m.t === 'hold') told.push(m.held);
      return true;
    },
  } as unknown as Worker & { told: boolean[] };
}

/** Past the gatherer's next decision. */
const nextDecision = () => new Promise((r) => setTimeout(r, LOAD_REPORT_MS + 50));

describe('AcceptGather', () => {
  const log = pino({ level: 'silent' });
  let gather: AcceptGather | undefined;
  afterEach(() => gather?.stop());

  it('holds every worker after the first; a busy first one lets the next in, a quiet spell sends it back', async () => {
    const [a, b, c] = [fakeWorker(), fakeWorker(), fakeWorker()];
    gather = new AcceptGather(log, () => [a, b, c], 'gather');
    gather.ready(a);
    gather.ready(b);
    gather.ready(c);
    assert.deepEqual([a.told, b.told, c.told], [[], [true], [true]]);
    gather.report(a, 0.8, 0.7);
    await nextDecision();
    assert.deepEqual([a.told, b.told, c.told], [[], [true], [true]], 'one busy report lets no one in');
    gather.report(a, 0.8, 0.7);
    gather.report(b, 0, 0);
    gather.report(c, 0, 0);
    await nextDecision();
    assert.deepEqual([a.told, b.told, c.told], [[], [true, false], [true]]);
    for (let i = 0; i < 3; i++) {
      gather.report(a, 0.1, 0.1);
      gather.report(b, 0.05, 0.05);
    }
    await nextDecision();
    assert.deepEqual([a.told, b.told, c.told], [[], [true, false, true], [true]]);
  });

  it('a loop busy by the clock but short of CPU (a core held by other programs) lets no one in', async () => {
    const [a, b] = [fakeWorker(), fakeWorker()];
    gather = new AcceptGather(log, () => [a, b], 'gather');
    gather.ready(a);
    gather.ready(b);
    for (let i = 0; i < 6; i++) gather.report(a, 0.95, 0.45);
    await nextDecision();
    assert.deepEqual(b.told, [true]);
  });

  it('a worker that stops reporting counts as busy: the next one is let in', async () => {
    const [a, b] = [fakeWorker(), fakeWorker()];
    gather = new AcceptGather(log, () => [a, b], 'gather');
    gather.ready(a);
    gather.ready(b);
    assert.deepEqual(b.told, [true]);
    const deadline = Date.now() + 10 * LOAD_REPORT_MS;
    while (b.told.length < 2 && Date.now() < deadline) {
      gather.report(b, 0, 0);
      await new Promise((r) => setTimeout(r, LOAD_REPORT_MS / 2));
    }
    assert.deepEqual(b.told, [true, false]);
  });

  it('the first one gone, the next takes the connections at once', () => {
    const [a, b] = [fakeWorker(), fakeWorker()];
    const workers = [a, b];
    gather = new AcceptGather(log, () => workers, 'gather');
    gather.ready(a);
    gather.ready(b);
    workers.shift();
    gather.forget(a);
    assert.deepEqual(b.told, [true, false]);
  });

  it('a worker out of descriptors is held and the next takes its place, idle as they are; it comes back first once it has some', () => {
    const [a, b, c] = [fakeWorker(), fakeWorker(), fakeWorker()];
    gather = new AcceptGather(log, () => [a, b, c], 'gather');
    for (const w of [a, b, c]) gather.ready(w);
    gather.report(a, 0, 0, true);
    assert.deepEqual([a.told, b.told, c.told], [[true], [true, false], [true]], 'a held, b accepting: no load needed');
    gather.report(b, 0, 0, true);
    assert.deepEqual([a.told, b.told, c.told], [[true], [true, false, true], [true, false]], 'then c');
    gather.report(a, 0, 0, false);
    assert.deepEqual([a.told, b.told, c.told], [[true, false], [true, false, true], [true, false, true]], 'a first again');
  });

  it('every worker out of descriptors: none is held (each retries on its own); spread holds none either way', () => {
    const [a, b] = [fakeWorker(), fakeWorker()];
    gather = new AcceptGather(log, () => [a, b], 'gather');
    gather.ready(a);
    gather.ready(b);
    gather.report(a, 0, 0, true);
    gather.report(b, 0, 0, true);
    assert.deepEqual([a.told, b.told], [[true, false], [true, false]]);
    gather.stop();
    const [x, y] = [fakeWorker(), fakeWorker()];
    gather = new AcceptGather(log, () => [x, y], 'spread');
    gather.ready(x);
    gather.ready(y);
    gather.report(x, 0, 0, true);
    assert.deepEqual([x.told, y.told], [[], []]);
  });

  it('spread holds no one; a reload to gather holds them again, and back', () => {
    const [a, b] = [fakeWorker(), fakeWorker()];
    gather = new AcceptGather(log, () => [a, b], 'spread');
    gather.ready(a);
    gather.ready(b);
    assert.deepEqual(b.told, []);
    gather.setMode('gather');
    assert.deepEqual(b.told, [true]);
    gather.setMode('spread');
    assert.deepEqual(b.told, [true, false]);
  });
});

describe('AcceptGather probes', () => {
  const log = pino({ level: 'silent' });
  let gather: AcceptGather | undefined;
  afterEach(() => gather?.stop());

  it('workers let in by a burst leave one by one once the load sits between the marks, and come back while it is needed', async () => {
    const [a, b] = [fakeWorker(), fakeWorker()];
    gather = new AcceptGather(log, () => [a, b], 'gather', { ms: 600, maxMs: 5000, failedMs: 400 });
    gather.ready(a);
    gather.ready(b);
    gather.report(a, 1, 1);
    gather.report(a, 1, 1);
    gather.report(b, 0, 0);
    await nextDecision();
    assert.deepEqual(b.told, [true, false], 'the burst let b in');
    // Two at 0.2 each: one alone would carry 0.4, between the marks: acceptingCount keeps two; a probe does not.
    const until = Date.now() + 3000;
    while (b.told.length < 3 && Date.now() < until) {
      gather.report(a, 0.2, 0.2);
      gather.report(b, 0.2, 0.2);
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.deepEqual(b.told, [true, false, true], 'b left to see');
    // a alone now carries 0.8: b joins again.
    gather.report(a, 0.8, 0.8);
    gather.report(a, 0.8, 0.8);
    await nextDecision();
    assert.deepEqual(b.told, [true, false, true, false], 'b back');
  });
});
