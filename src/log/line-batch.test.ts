import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { pino } from 'pino';
import { LineBatch, type LineSink } from './line-batch.js';

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

test('lines logged within the interval reach the sink in one write, once the interval is over', async () => {
  const out = sink();
  const batch = new LineBatch(out, { intervalMs: 30 });
  batch.write('a\n');
  await sleep(5);
  batch.write('b\n');
  assert.deepEqual(out.writes, []);
  await sleep(10);
  assert.deepEqual(out.writes, [], 'the second line does not restart the wait, nor does the first leave alone');
  await sleep(60);
  assert.deepEqual(out.writes, ['a\nb\n']);
  batch.write('c\n');
  await sleep(60);
  assert.deepEqual(out.writes, ['a\nb\n', 'c\n']);
  await sleep(60);
  assert.equal(out.writes.length, 2, 'nothing pending, nothing written');
});

test('enough pending bytes are written at once, without waiting', async () => {
  const out = sink();
  const batch = new LineBatch(out, { intervalMs: 1000, maxBytes: 10 });
  batch.write('12345\n');
  assert.deepEqual(out.writes, []);
  batch.write('67890\n');
  assert.deepEqual(out.writes, ['12345\n67890\n']);
  batch.write('x\n');
  batch.flush();
  assert.deepEqual(out.writes, ['12345\n67890\n', 'x\n']);
});

test('flush passes what is pending, then flushes the sink', async () => {
  const out = sink();
  const batch = new LineBatch(out, { intervalMs: 20 });
  batch.write('x\n');
  await new Promise<void>((resolve) => batch.flush(() => resolve()));
  assert.deepEqual(out.writes, ['x\n']);
  assert.equal(out.flushed, 1);
  await sleep(50);
  assert.deepEqual(out.writes, ['x\n'], 'the timer that was set finds nothing left');
});

test('pino writes through it line by line, unchanged', async () => {
  const out = sink();
  const log = pino({ base: undefined, timestamp: false }, new LineBatch(out, { intervalMs: 1 }));
  log.child({ session: 's1' }).info({ event: 'one' }, 'first');
  log.info({ event: 'two' }, 'second');
  await sleep(30);
  assert.equal(out.writes.length, 1);
  const lines = out.writes[0]!.trimEnd().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(lines, [
    { level: 30, session: 's1', event: 'one', msg: 'first' },
    { level: 30, event: 'two', msg: 'second' },
  ]);
});

// The logger on standard output, in a process of its own that logs and then ends at once: the lines
// still pending are written by the exit hook, whether the process returns, exits or crashes.
for (const [how, code, ending] of [
  ['runs out of work', 0, ''],
  ['calls process.exit(3)', 3, 'process.exit(3);'],
  ['throws', 1, "throw new Error('boom');"],
] as const) {
  test(`a process that ${how} right after logging loses no line`, () => {
    const index = new URL('./index.js', import.meta.url).href;
    const script = `const { createLogger } = await import(${JSON.stringify(index)});
const log = createLogger({ format: 'json', level: 'info' });
for (let i = 0; i < 3; i++) log.info({ event: 'line', n: i }, 'a line');
${ending}`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(r.status, code, r.stderr);
    const lines = r.stdout.trimEnd().split('\n').map((l) => JSON.parse(l) as { event: string; n: number });
    assert.deepEqual(lines.map((l) => `${l.event} ${l.n}`), ['line 0', 'line 1', 'line 2']);
  });
}

// At exit the pipe may be full and its reader a moment late (a log collector busy elsewhere): the last
// lines wait for it, up to a bound, rather than being dropped after a burst of EAGAINs.
test('lines pending at exit reach a pipe that is full until its reader comes back 300 ms later', () => {
  const index = new URL('./index.js', import.meta.url).href;
  const script = `import { writeSync } from 'node:fs';
const { createLogger } = await import(${JSON.stringify(index)});
const log = createLogger({ format: 'json', level: 'info' });
// Fill the pipe (standard output is non-blocking once process.stdout exists).
const filler = Buffer.alloc(4096, 46);
let full = false;
for (let i = 0; i < 1000 && !full; i++) {
  try { writeSync(1, filler); } catch (err) { if (err.code !== 'EAGAIN') throw err; full = true; }
}
if (!full) throw new Error('the pipe never filled');
for (let i = 0; i < 100; i++) log.info({ event: 'line', n: i }, 'a line');
process.exit(0);`;
  // The reader starts 300 ms after the writer.
  const r = spawnSync('sh', ['-c', '"$NODE" --input-type=module -e "$SCRIPT" | (sleep 0.3; cat)'], { encoding: 'utf8', timeout: 20_000, env: { ...process.env, NODE: process.execPath, SCRIPT: script }, maxBuffer: 64 * 2 ** 20 });
  assert.equal(r.status, 0, r.stderr);
  const text = r.stdout.replace(/^\.+/, '').trimEnd();
  const lines = text === '' ? [] : text.split('\n').map((l) => JSON.parse(l) as { n: number });
  assert.equal(lines.length, 100, 'every line pending at exit arrived');
  assert.deepEqual(lines.map((l) => l.n), [...Array(100).keys()]);
});
