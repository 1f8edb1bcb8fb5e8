import { describe, it, test } from 'node:test';
import assert from 'node:assert/strict';
import { descriptorWatch, isOutOfDescriptors, outOfDescriptors, outOfDescriptorsAt } from './descriptors.js';
import { moduleUrl, underFileLimit } from '../../test/support/child.js';

test('descriptorsToSpare: false with less than 64 free under the limit, true once they are closed again', () => {
  // A child with a limit of 128 opens descriptors until fewer than 64 are free, then closes them.
  const script = `
    const { descriptorsToSpare } = await import(${moduleUrl('./descriptors.js', import.meta.url)});
    const { openSync, closeSync, readdirSync } = await import('node:fs');
    const before = descriptorsToSpare();
    const fds = [];
    while (128 - readdirSync('/proc/self/fd').length >= 60) fds.push(openSync('/dev/null', 'r'));
    const full = descriptorsToSpare();
    for (const fd of fds) closeSync(fd);
    console.log(JSON.stringify([before, full, descriptorsToSpare()]));`;
  assert.deepEqual(underFileLimit(128, script), [true, false, true]);
});

test('outOfDescriptors: EMFILE and ENFILE count, and the time is kept', () => {
  assert.deepEqual(['EMFILE', 'ENFILE', 'ECONNREFUSED', undefined].map(isOutOfDescriptors), [true, true, false, false]);
  const before = Date.now();
  outOfDescriptors();
  assert.ok(outOfDescriptorsAt() >= before);
});

test('out of descriptors: the reserve goes to what is under way, listeners pause, and resume once it is back; none to spare meanwhile', () => {
  // A child with a limit of 128: a watcher makes the reserve, the rest is filled; out of descriptors,
  // RESERVE of them are free for the logins under way; freed, the reserve is taken back and the watcher told.
  const script = `
    const { RESERVE, descriptorsToSpare, outOfDescriptors, whileOutOfDescriptors } = await import(${moduleUrl('./descriptors.js', import.meta.url)});
    const { openSync, closeSync } = await import('node:fs');
    const told = [];
    whileOutOfDescriptors((paused) => told.push(paused));
    const fill = () => { const fds = []; try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch {} return fds; };
    const filler = fill();
    const spareWhenNone = descriptorsToSpare();
    outOfDescriptors();
    const spareWhenOut = descriptorsToSpare();
    const underWay = fill();
    for (const fd of underWay) closeSync(fd);
    const pausedThen = [...told];
    for (const fd of filler.splice(0, 72)) closeSync(fd);
    const deadline = Date.now() + 5000;
    while (told.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    const spareAfter = descriptorsToSpare();
    console.log(JSON.stringify({ reserve: RESERVE, underWay: underWay.length, pausedThen, told, spare: [spareWhenNone, spareWhenOut, spareAfter], left: fill().length }));`;
  const out = underFileLimit<{ reserve: number; underWay: number; pausedThen: boolean[]; told: boolean[]; spare: boolean[]; left: number }>(128, script);
  assert.equal(out.underWay, out.reserve, 'the reserve was free for what was under way');
  assert.deepEqual(out.pausedThen, [true], 'paused at once');
  assert.deepEqual(out.told, [true, false], 'resumed once the reserve was back');
  // None free (the descriptor table cannot even be read), then out with the reserve given away, then 72 free again.
  assert.deepEqual(out.spare, [false, false, true]);
  // Free now: the 72 closed and what was under way, less the reserve taken back.
  assert.equal(out.left, 72 + out.underWay - out.reserve, 'the reserve is held again');
});

describe('descriptorWatch', () => {
  it('full from the report after a failed accept until the descriptors are back, asked once every fourth report', () => {
    let failedAt = 0;
    let spare = false;
    let asked = 0;
    const full = descriptorWatch(() => failedAt, () => (asked++, spare));
    assert.equal(full(), false);
    failedAt = Date.now();
    assert.equal(full(), true);
    spare = true;
    assert.deepEqual([full(), full(), full()], [true, true, true], 'not asked before the fourth report');
    assert.equal(asked, 0);
    assert.equal(full(), false);
    assert.equal(asked, 1);
    assert.deepEqual([full(), full()], [false, false], 'not asked while it has some');
    assert.equal(asked, 1);
  });

  it('a failure again meanwhile keeps it full and starts the count over', async () => {
    let failedAt = 0;
    const full = descriptorWatch(() => failedAt, () => true);
    failedAt = Date.now();
    assert.equal(full(), true);
    await new Promise((r) => setTimeout(r, 5));
    assert.deepEqual([full(), full()], [true, true]);
    failedAt = Date.now();
    assert.deepEqual([full(), full(), full(), full()], [true, true, true, true], 'four reports from the new failure');
    assert.equal(full(), false);
  });
});
