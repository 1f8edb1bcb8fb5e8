import { test } from 'node:test';
import assert from 'node:assert/strict';
import { replaceNativeRelayForTest } from '../net/index.js';
import { captureLogs } from '../../test/support/logs.js';
import { refusingRelay } from '../../test/support/relay.js';
import { inChild, moduleUrl } from '../../test/support/child.js';
import { SCHED_BATCH, SCHED_OTHER } from '../../test/support/sched.js';
import { applyCpuScheduling } from './cpu-scheduling.js';


interface Seen {
  started: number[];
  batch: number[];
  later: number;
  other: number[];
  inherit: number[];
  lines: { event: string; policy: string; threads: number }[];
}

test('applyCpuScheduling: batch puts every thread of the process under SCHED_BATCH, threads started later too; other puts them back; inherit leaves them', () => {
  // In a child started under SCHED_OTHER whatever the test runner's policy: the policy is the process's,
  // and the test runner's must stay as it is.
  const seen = inChild<Seen>(`
    const { readdirSync } = await import('node:fs');
    const { Worker } = await import('node:worker_threads');
    const { applyCpuScheduling } = await import(${moduleUrl('./cpu-scheduling.js', import.meta.url)});
    const { captureLogs } = await import(${moduleUrl('../../test/support/logs.js', import.meta.url)});
    const { SCHED_BATCH, threadPolicies, threadPolicy } = await import(${moduleUrl('../../test/support/sched.js', import.meta.url)});
    const all = () => threadPolicies('self');
    const logs = captureLogs();
    const started = all();
    applyCpuScheduling('batch', logs.log);
    const batch = all();
    const before = new Set(readdirSync('/proc/self/task'));
    const w = new Worker('setInterval(() => {}, 1000)', { eval: true });
    await new Promise((r) => w.once('online', r));
    const fresh = readdirSync('/proc/self/task').filter((t) => !before.has(t));
    const later = fresh.length > 0 && fresh.every((t) => threadPolicy('self', t) === SCHED_BATCH) ? SCHED_BATCH : -1;
    applyCpuScheduling('other', logs.log);
    const other = all();
    applyCpuScheduling('inherit', logs.log);
    const inherit = all();
    await w.terminate();
    console.log(JSON.stringify({ started, batch, later, other, inherit, lines: logs.records.map(({ event, policy, threads }) => ({ event, policy, threads })) }));
  `, ['chrt', '--other', '0']);
  assert.ok(seen.started.length > 1, 'Node runs several threads');
  assert.ok(seen.started.every((p) => p === SCHED_OTHER), `the child starts under SCHED_OTHER: ${seen.started.join(',')}`);
  assert.deepEqual(new Set(seen.batch), new Set([SCHED_BATCH]), `every thread batch: ${seen.batch.join(',')}`);
  assert.equal(seen.later, SCHED_BATCH, "a thread started later takes its creator's policy");
  assert.ok(seen.other.every((p) => p === SCHED_OTHER), `back to SCHED_OTHER: ${seen.other.join(',')}`);
  assert.ok(seen.inherit.every((p) => p === SCHED_OTHER), 'inherit changes nothing');
  assert.equal(seen.lines.length, 2, 'inherit logs nothing');
  assert.deepEqual(seen.lines.map((l) => [l.event, l.policy]), [['cpu_scheduling', 'batch'], ['cpu_scheduling', 'other']]);
  assert.equal(seen.lines[0]!.threads, seen.batch.length);
});

test('applyCpuScheduling: a policy the kernel refuses, or no addon to ask with, is a warning and postern goes on', () => {
  const logs = captureLogs();
  const restore = replaceNativeRelayForTest(refusingRelay('sched_setscheduler EPERM'));
  try {
    applyCpuScheduling('batch', logs.log);
  } finally {
    restore();
  }
  const restore2 = replaceNativeRelayForTest(undefined);
  try {
    applyCpuScheduling('other', logs.log);
    applyCpuScheduling('inherit', logs.log);
  } finally {
    restore2();
  }
  assert.deepEqual(
    logs.records.map((r) => [r['event'], r['level'], r['policy'], r['err']]),
    [
      ['cpu_scheduling_failed', 40, 'batch', 'sched_setscheduler EPERM'],
      ['cpu_scheduling_failed', 40, 'other', 'the native addon is not built'],
    ],
  );
  assert.match(String(logs.records[0]!['msg']), /^process\.cpu_scheduling: batch not applied \(sched_setscheduler EPERM\); postern goes on/);
});
