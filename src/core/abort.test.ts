import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Aborter, sleep } from './abort.js';

describe('Aborter', () => {
  test('tells each listener once, in order, at the first abort only', () => {
    const a = new Aborter();
    const told: string[] = [];
    a.addEventListener('abort', () => told.push('first'));
    a.addEventListener('abort', () => told.push('second'));
    assert.equal(a.aborted, false);
    a.abort();
    a.abort();
    assert.equal(a.aborted, true);
    assert.deepEqual(told, ['first', 'second']);
  });

  test('a removed listener, and one added after the abort, are never told', () => {
    const a = new Aborter();
    const told: string[] = [];
    const removed = () => told.push('removed');
    a.addEventListener('abort', removed);
    a.addEventListener('abort', () => told.push('kept'));
    a.removeEventListener('abort', removed);
    a.removeEventListener('abort', () => told.push('never added'));
    a.abort();
    a.addEventListener('abort', () => told.push('late'));
    assert.deepEqual(told, ['kept']);
  });
});

describe('sleep', () => {
  test('waits its time without a signal, and with one that does not abort', async () => {
    const t0 = performance.now();
    await sleep(30);
    await sleep(30, new Aborter());
    assert.ok(performance.now() - t0 >= 50);
  });

  test('ends at the abort of an Aborter or an AbortSignal, and at once when already aborted', async () => {
    for (const make of [() => new Aborter(), () => new AbortController()]) {
      const a = make();
      const signal = a instanceof Aborter ? a : a.signal;
      const t0 = performance.now();
      const waiting = sleep(60_000, signal);
      setTimeout(() => a.abort(), 20);
      await waiting;
      await sleep(60_000, signal);
      assert.ok(performance.now() - t0 < 10_000);
    }
  });

  test('leaves no listener behind once it has waited', async () => {
    const a = new Aborter();
    let told = 0;
    const counting = { get aborted() { return a.aborted; }, addEventListener: (_t: 'abort', l: () => void) => { told++; a.addEventListener('abort', l); }, removeEventListener: (_t: 'abort', l: () => void) => { told--; a.removeEventListener('abort', l); } };
    await sleep(5, counting);
    assert.equal(told, 0);
  });
});
