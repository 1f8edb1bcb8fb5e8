// Which process of a tree did its work between two marks: what the FETCH rounds name as the backend's;
// a process tree put under SCHED_BATCH (--others-policy batch).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { SCHED_BATCH, threadPolicies } from '../test/support/sched.js';
import { batchTree, busiestBetween, processTree, treeProcesses, uptimeSeconds, type ProcessMark } from './procstat.js';

const TICKS = 100;
const at = (ticks: number, startTicks: number, processor = 0): ProcessMark => ({ ticks, startTicks, processor });

describe('busiestBetween', () => {
  test('the process that used the most CPU between the marks, not the one with the most in all', () => {
    const self = process.pid;
    const a = new Map([[1, at(900, 10)], [self, at(100, 50)]]);
    const b = new Map([[1, at(950, 10)], [self, at(300, 50, 1)]]);
    const top = busiestBetween(a, b, 60)!;
    assert.equal(top.pid, self);
    assert.equal(top.comm, readFileSync('/proc/self/comm', 'utf8').trim());
    assert.equal(top.seconds, 200 / TICKS);
    assert.equal(top.ageS, 60 - 50 / TICKS);
    assert.equal(top.processor, 1);
  });

  test('a process born between the marks counts whole, and so does one that reused a pid', () => {
    const a = new Map([[7, at(500, 10)]]);
    const born = busiestBetween(a, new Map([[7, at(510, 10)], [8, at(40, 6100)]]), 60)!;
    assert.equal(born.pid, 8);
    assert.equal(born.ageS, -1, 'started a second after the first mark');
    const reused = busiestBetween(a, new Map([[7, at(30, 6050)]]), 60)!;
    assert.equal(reused.seconds, 0.3);
    assert.equal(busiestBetween(a, new Map([[7, at(500, 10)]]), 60), undefined, 'no CPU used: none');
  });

  test('the marks of a real tree: this process, its start before now', () => {
    const marks = treeProcesses(new Map([['self', process.pid]])).get('self')!;
    const me = marks.get(process.pid)!;
    assert.ok(me.ticks >= 0 && me.startTicks > 0 && me.startTicks / TICKS <= uptimeSeconds());
  });
});

test('batchTree: every process of the tree, the root and its children, under SCHED_BATCH; the caller as it was', async () => {
  const ours = threadPolicies('self');
  // Started under SCHED_OTHER whatever the test runner's policy.
  const root = spawn('chrt', ['--other', '0', 'sh', '-c', 'sleep 20 & sleep 20 & wait'], { stdio: 'ignore' });
  try {
    // The two children once forked (bounded: 5 s).
    const until = Date.now() + 5000;
    while (processTree(root.pid!).length < 3 && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    const tree = processTree(root.pid!).map((s) => s.pid);
    assert.equal(tree.length, 3);
    assert.ok(tree.every((pid) => !threadPolicies(pid).includes(SCHED_BATCH)), 'not batch before');
    batchTree(root.pid!);
    assert.deepEqual(tree.map((pid) => new Set(threadPolicies(pid))), tree.map(() => new Set([SCHED_BATCH])));
    assert.deepEqual(threadPolicies('self'), ours);
  } finally {
    for (const s of processTree(root.pid!).reverse()) process.kill(s.pid, 'SIGKILL');
  }
});
