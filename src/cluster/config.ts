import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { duration } from '../core/index.js';
import { RESERVED_DESCRIPTORS } from '../net/index.js';

/** The `process:` section: how many workers serve, and how they stop. */
export const processConfigSchema = z
  .strictObject({
    workers: z
      .union([z.literal('auto'), z.number().int().min(1).max(1024)])
      .prefault('auto')
      .describe('Worker processes sharing the listeners; `auto` is one per CPU core. A worker that dies is replaced; the others and their sessions go on. A reload starts added workers and drains removed ones. 1 serves from a single process (no supervisor), whose count changes only at a restart.'),
    accept: z
      .enum(['gather', 'spread'])
      .prefault('gather')
      .describe('Which workers take new IMAP and POP3 connections. `gather`: the first worker alone, the others joining while the accepting ones are busy more than half the time (reported four times a second, a busy second rather than one busy report; a worker that stops answering counts as busy) and leaving when the load fits in fewer (docs/operations.md): at ordinary loads one process does the logins, which costs less CPU a login than several each doing a few, and leaves more of the machine to what shares it. `spread`: every worker takes its share all the time. LMTP, the auth service and listeners behind haproxy are served by every worker either way.'),
    cpu_scheduling: z
      .enum(['batch', 'other', 'inherit'])
      .prefault('batch')
      .describe('The Linux scheduling policy of the workers\' threads (of the one process with `workers: 1`), as systemd\'s CPUSchedulingPolicy=. `batch` (SCHED_BATCH): the same share of the CPU, but a thread that wakes (a reply, a new connection) waits for the task running on the core to finish its turn rather than preempt it; postern wakes many times a login for a few microseconds each, and a backend or an MTA on the same cores then finishes its work in fewer, longer turns (bench/RESULTS.md, item 67: a fifth more logins a second with Dovecot on the same two cores). It adds at most a scheduler slice (a few milliseconds) to postern\'s answers when every core is busy. `other`: the default policy (SCHED_OTHER). `inherit`: the policy postern was started with (systemd, chrt); a reload to `inherit` leaves the one in place.'),
    shutdown_timeout: duration
      .prefault('30s')
      .describe('On SIGTERM, how long open sessions may go on after the listeners close; then each gets its protocol goodbye (`* BYE`, `-ERR`, `421`). Sessions that end sooner let postern stop sooner.'),
  })
  .prefault({});

export type ProcessConfig = z.output<typeof processConfigSchema>;

/** The number of workers `workers` means on this machine. */
export function workerCount(cfg: Pick<ProcessConfig, 'workers'>): number {
  return cfg.workers === 'auto' ? availableParallelism() : cfg.workers;
}

/** Descriptors a worker holds besides its sessions: listeners, the log, the relay's epoll and pipes, passdb connections, and those it keeps back. */
const BASE_DESCRIPTORS = 96 + RESERVED_DESCRIPTORS;

/**
 * A warning when the workers cannot hold `limits.max_connections` proxied sessions (two descriptors
 * each) within the open-file limit `limit` each has, as Dovecot warns that its fd limit is lower
 * than its client limits need. The workers share the sessions (a worker out of descriptors leaves
 * new ones to the next), so the need is each one's share.
 */
export function fdLimitWarning(cfg: { process: Pick<ProcessConfig, 'workers'>; limits: { max_connections: number } }, limit: number | undefined): string | undefined {
  const max = cfg.limits.max_connections;
  if (limit === undefined || max === 0) return undefined;
  const workers = workerCount(cfg.process);
  const need = Math.ceil((2 * max) / workers) + BASE_DESCRIPTORS;
  if (limit >= need) return undefined;
  const holds = workers * Math.max(0, Math.floor((limit - BASE_DESCRIPTORS) / 2));
  return `limits.max_connections is ${max}, but with an open-file limit of ${limit}, ${workers === 1 ? 'the process holds' : `${workers} workers hold`} about ${holds} proxied sessions (two descriptors each): raise the limit to ${need} or more (systemd LimitNOFILE=, ulimit -n), or lower limits.max_connections`;
}
