import type { CountKey, CountRequest } from '../net/index.js';

/** What the primary and its workers say to each other over the cluster IPC channel. */

/** Primary to worker: a question (reload, sessions, kick, ...), the order to stop, or the answer to a count. */
export type ToWorker =
  | { t: 'ask'; id: number; what: string; arg?: unknown }
  | { t: 'shutdown'; deadlineMs: number }
  | { t: 'counted'; id: number; granted: true; lease: number }
  | { t: 'counted'; id: number; granted: false; key: CountKey; max: number }
  /** Places under limits.max_connections for the worker to hold (0: the node is full). */
  | { t: 'placed'; id: number; places: number }
  /** Give back every place held and not used. */
  | { t: 'reclaim'; id: number }
  /** process.accept: gather: leave new connections to the other workers (held), or take them again. */
  | { t: 'hold'; held: boolean };

/** Worker to primary: started, an answer, or a connection count to take or give back (limits:). */
export type ToPrimary =
  | { t: 'ready'; listeners: Array<{ label: string; address: string; port: number }> }
  | { t: 'answer'; id: number; ok: boolean; value?: unknown; error?: string }
  | { t: 'acquire'; id: number; requests: CountRequest[] }
  | { t: 'release'; lease: number }
  /** More places under limits.max_connections, whose value is `max` in this worker's configuration. */
  | { t: 'places'; id: number; max: number }
  /** Places given back, unasked or in answer to the reclaim `reclaim`. */
  | { t: 'return'; places: number; reclaim?: number }
  /**
   * How busy the worker was since its last report, for process.accept: gather: its event loop's
   * utilisation (0–1, wall time) and its main thread's CPU time over the same wall time; `full`:
   * it ran out of file descriptors accepting and has not got enough back since.
   */
  | { t: 'load'; elu: number; cpu: number; full: boolean };

const kind = (m: unknown): string | undefined => (typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string' ? (m as { t: string }).t : undefined);

export function isToWorker(m: unknown): m is ToWorker {
  const t = kind(m);
  return t === 'ask' || t === 'shutdown' || t === 'counted' || t === 'placed' || t === 'reclaim' || t === 'hold';
}

export function isToPrimary(m: unknown): m is ToPrimary {
  const t = kind(m);
  return t === 'ready' || t === 'answer' || t === 'acquire' || t === 'release' || t === 'places' || t === 'return' || t === 'load';
}
