import { availableParallelism } from 'node:os';
import { z } from 'zod';
import { duration } from '../core/index.js';

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
    shutdown_timeout: duration
      .prefault('30s')
      .describe('On SIGTERM, how long open sessions may go on after the listeners close; then each gets its protocol goodbye (`* BYE`, `-ERR`, `421`). Sessions that end sooner let postern stop sooner.'),
  })
  .prefault({});

export type ProcessConfig = z.output<typeof processConfigSchema>;

/** The number of workers `workers` means on this machine. */
export function workerCount(cfg: ProcessConfig): number {
  return cfg.workers === 'auto' ? availableParallelism() : cfg.workers;
}
