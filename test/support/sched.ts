import { readdirSync, readFileSync } from 'node:fs';

/** Linux's scheduling policies, as /proc/<pid>/task/<tid>/stat gives them (field 41). */
export const SCHED_OTHER = 0;
export const SCHED_BATCH = 3;

/** The scheduling policy of one thread of `pid` (`self`: this process). */
export function threadPolicy(pid: number | 'self', tid: string): number {
  return Number(readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8').split(') ')[1]!.split(' ')[38]);
}

/** The scheduling policy of each thread of `pid` (`self`: this process). */
export function threadPolicies(pid: number | 'self'): number[] {
  return readdirSync(`/proc/${pid}/task`).map((tid) => threadPolicy(pid, tid));
}
