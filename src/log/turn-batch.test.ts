import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { pino } from 'pino';
import { TurnBatch, type LineSink } from './turn-batch.js';

function sink(): LineSink & { writes: string[]; flushed: number } {
  const s = {
    writes: [] as string[],
    flushed: 0,
    write(data: string) {
      s.writes.push(data);
      return true;
    },
    flush(cb?: (err?: Error) => void) {
      s.flushed++;
      cb?.();
    },
  };
  return s;
}

test('lines logged in one turn reach the sink in one write, after the turn', async () => {
  const out = sink();
  const batch = new TurnBatch(out);
  batch.write('a\n');
  batch.write('b\n');
  assert.deepEqual(out.writes, []);
  await nextTurn();
  assert.deepEqual(out.writes, ['a\nb\n']);
  batch.write('c\n');
  await nextTurn();
  assert.deepEqual(out.writes, ['a\nb\n', 'c\n']);
  await nextTurn();
  assert.equal(out.writes.length, 2, 'nothing pending, nothing written');
});

test('flush passes what is pending, then flushes the sink', async () => {
  const out = sink();
  const batch = new TurnBatch(out);
  batch.write('x\n');
  await new Promise<void>((resolve) => batch.flush(() => resolve()));
  assert.deepEqual(out.writes, ['x\n']);
  assert.equal(out.flushed, 1);
  await nextTurn();
  assert.deepEqual(out.writes, ['x\n'], 'the turn that was scheduled finds nothing left');
});

test('pino writes through it line by line, unchanged', async () => {
  const out = sink();
  const log = pino({ base: undefined, timestamp: false }, new TurnBatch(out));
  log.child({ session: 's1' }).info({ event: 'one' }, 'first');
  log.info({ event: 'two' }, 'second');
  await nextTurn();
  assert.equal(out.writes.length, 1);
  const lines = out.writes[0]!.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines, [
    { level: 30, session: 's1', event: 'one', msg: 'first' },
    { level: 30, event: 'two', msg: 'second' },
  ]);
});
