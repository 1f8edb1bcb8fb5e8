import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { isOutOfDescriptors, outOfDescriptors, outOfDescriptorsAt } from './descriptors.js';

test('descriptorsToSpare: false with less than 64 free under the limit, true once they are closed again', () => {
  // A child with a limit of 128 opens descriptors until fewer than 64 are free, then closes them.
  const script = `
    const { descriptorsToSpare } = await import(${JSON.stringify(new URL('./descriptors.js', import.meta.url).href)});
    const { openSync, closeSync, readdirSync } = await import('node:fs');
    const before = descriptorsToSpare();
    const fds = [];
    while (128 - readdirSync('/proc/self/fd').length >= 60) fds.push(openSync('/dev/null', 'r'));
    const full = descriptorsToSpare();
    for (const fd of fds) closeSync(fd);
    console.log(JSON.stringify([before, full, descriptorsToSpare()]));`;
  const r = spawnSync('prlimit', ['--nofile=128:128', '--', process.execPath, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(JSON.parse(r.stdout), [true, false, true]);
});

test('outOfDescriptors: EMFILE and ENFILE count, and the time is kept', () => {
  assert.deepEqual(['EMFILE', 'ENFILE', 'ECONNREFUSED', undefined].map(isOutOfDescriptors), [true, true, false, false]);
  const before = Date.now();
  outOfDescriptors();
  assert.ok(outOfDescriptorsAt() >= before);
});
