import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pino } from 'pino';
import { isoTimestamp } from './time.js';

const iso = (ms: number) => `,"time":"${new Date(ms).toISOString()}"`;

test('the timestamp is the text of Date.toISOString, across seconds, minutes, hours, days and years', () => {
  let clock = 0;
  const stamp = isoTimestamp(() => clock);
  // Stepping through a year boundary and a leap day, in uneven steps that cross every field.
  const starts = [Date.UTC(2026, 11, 31, 23, 58, 0, 0), Date.UTC(2028, 1, 28, 23, 59, 59, 990), Date.UTC(1970, 0, 1, 0, 0, 0, 0)];
  for (const start of starts) {
    for (let ms = start; ms < start + 200_000; ms += 997) {
      clock = ms;
      assert.equal(stamp(), iso(ms));
    }
  }
});

test('a clock that goes back, or jumps, is followed', () => {
  let clock = Date.UTC(2026, 10, 23, 19, 15, 44, 103);
  const stamp = isoTimestamp(() => clock);
  for (const ms of [clock, clock + 5, clock - 1, clock - 61_000, clock + 3_600_000, clock + 59_999, clock - 86_400_000 * 400, -1, -60_001, 0]) {
    clock = ms;
    assert.equal(stamp(), iso(ms));
  }
});

test('pino writes it as the line\'s time, in the shape of its own isoTime', () => {
  const lines: string[] = [];
  const sink = { write: (s: string) => lines.push(s) };
  const ms = Date.UTC(2026, 10, 23, 8, 5, 9, 7);
  const stamp = isoTimestamp(() => ms);
  pino({ base: undefined, timestamp: stamp }, sink).info({ event: 'x' }, 'y');
  assert.equal(JSON.parse(lines[0]!).time, new Date(ms).toISOString());
  // The same shape as pino's own: a leading comma and the key.
  assert.match(pino.stdTimeFunctions.isoTime(), /^,"time":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"$/);
  assert.match(stamp(), /^,"time":"2026-11-23T08:05:09\.007Z"$/);
});
