import type { Config } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { nativeAddon } from '../net/index.js';

type CpuScheduling = Config['process']['cpu_scheduling'];

/**
 * Puts every thread of this process under the scheduling policy `process.cpu_scheduling` names
 * (`inherit`: leaves it as it is). A policy the kernel refuses, or no native addon to ask it with, is
 * logged and postern goes on under the policy it has.
 */
export function applyCpuScheduling(policy: CpuScheduling, log: Logger): void {
  if (policy === 'inherit') return;
  const addon = nativeAddon();
  let reason: string;
  if (addon === undefined) {
    reason = 'the native addon is not built';
  } else {
    try {
      const threads = addon.cpuPolicy(policy === 'batch');
      log.debug({ event: 'cpu_scheduling', policy, threads }, `CPU scheduling policy ${policy} for ${threads} threads`);
      return;
    } catch (err) {
      reason = (err as Error).message;
    }
  }
  log.warn({ event: 'cpu_scheduling_failed', policy, err: reason }, `process.cpu_scheduling: ${policy} not applied (${reason}); postern goes on under the policy it started with`);
}
