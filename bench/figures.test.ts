// Rounds of a figure merged into one run: what the figures table and the CPU table read.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { mergeRounds, roundDurations, FULL, type FigureRun } from './figures.js';

const round = (seconds: number, ops: number, mib: number, p50: number, proxyS: number, refusal = ''): FigureRun => ({
  figure: 'fetch-pinned',
  result: {
    mode: 'fetch', proto: 'imap', tls: false, conns: 1, seconds, ops, ops_per_s: ops / seconds, errors: refusal ? 1 : 0,
    ...(refusal ? { error_kinds: { refused: 1 }, last_refusal: refusal } : {}),
    bytes: mib * 2 ** 20, bytes_per_s: (mib * 2 ** 20) / seconds, samples: ops, p50_us: p50, p90_us: p50 + 1, p99_us: p50 + 2, p999_us: p50 + 3, max_us: p50 * 10,
    cpu_user_s: 0.1, cpu_sys_s: 0.2, cpu_s: 0.3,
  },
  cpu: { wallS: seconds, loadgenS: 0.3, parties: { backend: { total: seconds * 0.9, sys: seconds * 0.5 }, proxy: { total: proxyS, sys: proxyS / 2 } }, otherS: 0.01 },
  window: { startMs: 1000 * seconds, endMs: 1000 * seconds + 500 },
});

describe('figures taken in rounds', () => {
  test('operations, bytes, errors and CPU add up; rates are over the summed time; percentiles are the median round', () => {
    const m = mergeRounds([round(2, 2000, 2000, 700, 0.8), round(2, 1000, 1000, 900, 0.6, 'a NO [UNAVAILABLE]'), round(4, 4000, 4000, 800, 1.6)]);
    assert.equal(m.figure, 'fetch-pinned');
    assert.equal(m.result.seconds, 8);
    assert.equal(m.result.ops, 7000);
    assert.equal(m.result.bytes, 7000 * 2 ** 20);
    assert.equal(m.result.bytes_per_s, (7000 * 2 ** 20) / 8);
    assert.equal(m.result.ops_per_s, 7000 / 8);
    assert.equal(m.result.errors, 1);
    assert.deepEqual(m.result.error_kinds, { refused: 1 });
    assert.equal(m.result.last_refusal, 'a NO [UNAVAILABLE]');
    assert.equal(m.result.p50_us, 800);
    assert.equal(m.result.p99_us, 802);
    assert.equal(m.result.max_us, 9000);
    assert.equal(m.cpu.wallS, 8);
    assert.ok(Math.abs(m.cpu.parties['proxy']!.total - 3.0) < 1e-9 && Math.abs(m.cpu.parties['proxy']!.sys - 1.5) < 1e-9);
    assert.ok(Math.abs(m.cpu.parties['backend']!.total - 7.2) < 1e-9);
    assert.ok(Math.abs(m.cpu.loadgenS - 0.9) < 1e-9);
    assert.deepEqual(m.window, { startMs: 2000, endMs: 4500 });
    assert.deepEqual(m.rounds, [1000 * 2 ** 20, 500 * 2 ** 20, 1000 * 2 ** 20]);
    assert.deepEqual(m.roundP50s, [700, 900, 800]);
  });

  test('a FETCH round that moved nothing is 0 bytes a second, not a rate in another unit', () => {
    const m = mergeRounds([round(2, 2000, 2000, 700, 0.8), round(2, 5, 0, 0, 0.1)]);
    assert.deepEqual(m.rounds, [1000 * 2 ** 20, 0]);
  });

  test('one round is the run itself', () => {
    const r = round(8, 8000, 8000, 700, 3);
    assert.equal(mergeRounds([r]), r);
    assert.throws(() => mergeRounds([]), /no round/);
  });

  test('a round measures its share of the time; the warm-up is kept', () => {
    const d = roundDurations(FULL, 4);
    assert.equal(d.streamS, FULL.streamS / 4);
    assert.equal(d.loginS, FULL.loginS / 4);
    assert.equal(d.streamWarmupS, FULL.streamWarmupS);
    assert.equal(d.loginWarmupS, FULL.loginWarmupS);
  });
});
