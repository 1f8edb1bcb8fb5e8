import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fdLimitWarning } from './config.js';

const cfg = (workers: number, max: number) => ({ process: { workers }, limits: { max_connections: max } });

test('fdLimitWarning: each worker needs its share of two descriptors a session, and some for itself', () => {
  // One worker, 10,000 sessions: 20,128 descriptors.
  assert.equal(fdLimitWarning(cfg(1, 10_000), 20_128), undefined);
  assert.match(fdLimitWarning(cfg(1, 10_000), 20_127) ?? '', /^limits\.max_connections is 10000, but with an open-file limit of 20127, the process holds about 9999 proxied sessions .*raise the limit to 20128 or more/);
  // Four workers share them: 5,128 each.
  assert.equal(fdLimitWarning(cfg(4, 10_000), 5_128), undefined);
  assert.match(fdLimitWarning(cfg(4, 10_000), 1_024) ?? '', /with an open-file limit of 1024, 4 workers hold about 1792 proxied sessions/);
});

test('fdLimitWarning: nothing to say with no connection limit, or no open-file limit known', () => {
  assert.equal(fdLimitWarning(cfg(1, 0), 64), undefined);
  assert.equal(fdLimitWarning(cfg(1, 10_000), undefined), undefined);
});
