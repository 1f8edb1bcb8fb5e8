import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DisconnectSpread, DISCONNECT_STEP_MS } from './disconnect-delay.js';

/** A clock the test moves by hand. */
function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => (t += ms) };
}

test('off (0): every client is closed at once', () => {
  const spread = new DisconnectSpread({ now: clock().now, random: () => 0 });
  const tickets = Array.from({ length: 50 }, () => spread.connected('192.0.2.10:143'));
  assert.deepEqual(tickets.map((t) => t.backendGone(0)), Array(50).fill(0));
});

test("a dying backend's 100 clients: the first second's worth at once, the rest spread in 100 ms steps up to the maximum", () => {
  const c = clock();
  const spread = new DisconnectSpread({ now: c.now, random: () => 0 });
  const tickets = Array.from({ length: 100 }, () => spread.connected('192.0.2.10:143'));
  const delays = tickets.map((t) => t.backendGone(10_000));
  // 100 clients over 10 s: 10 a second. Dovecot: 100 ms * floor(10 s * n * 10 / 100).
  assert.deepEqual(delays.slice(0, 10), Array(10).fill(0));
  for (let n = 11; n <= 100; n++) assert.equal(delays[n - 1], 100 * n, `client ${n}`);
  assert.ok(delays.every((d) => d % DISCONNECT_STEP_MS === 0 && d <= 10_000));
  for (const t of tickets) t.closed();
  assert.equal(spread.size, 0, 'the record goes when nothing is left');
});

test('the spread is capped by the setting and counts down from when the first client went', () => {
  const c = clock();
  const spread = new DisconnectSpread({ now: c.now, random: () => 0.5 });
  const tickets = Array.from({ length: 40 }, () => spread.connected('192.0.2.10:143'));
  const delays: number[] = [];
  for (const t of tickets) {
    delays.push(t.backendGone(2_000));
    c.advance(10); // the closes are noticed one by one
  }
  // Start 50 ms after the first (random 0.5 of a step); client n is due at 50 + 100*floor(20n/40) ms from there.
  delays.forEach((d, i) => {
    const n = i + 1;
    const due = n <= 20 ? 0 : Math.max(0, 50 + 100 * Math.floor((20 * n) / 40) - 10 * i);
    assert.equal(d, due, `client ${n}`);
  });
  assert.ok(Math.max(...delays) <= 2_000);
});

test('once some clients wait, every later one waits its turn too; a backend that answers again starts over', () => {
  const c = clock();
  const spread = new DisconnectSpread({ now: c.now, random: () => 0 });
  const first = Array.from({ length: 20 }, () => spread.connected('192.0.2.10:143'));
  const delays = first.map((t) => t.backendGone(10_000));
  assert.equal(delays.filter((d) => d === 0).length, 2, '20 clients over 10 s: 2 a second go at once');
  assert.ok(delays.slice(2).every((d) => d > 0));
  // The backend is back: a new login resets the count of disconnects.
  const again = spread.connected('192.0.2.10:143');
  for (const t of first) t.closed();
  assert.equal(again.backendGone(10_000), 0, 'alone on its backend: nothing to spread');
  again.closed();
  assert.equal(spread.size, 0);
});

test('tickets are idempotent: a second close or backendGone changes nothing', () => {
  const spread = new DisconnectSpread({ now: clock().now, random: () => 0 });
  const a = spread.connected('192.0.2.10:143');
  const b = spread.connected('192.0.2.11:143');
  a.closed();
  a.closed();
  assert.equal(a.backendGone(10_000), 0);
  assert.equal(spread.size, 1);
  b.backendGone(10_000);
  b.backendGone(10_000);
  b.closed();
  b.closed();
  assert.equal(spread.size, 0);
});
