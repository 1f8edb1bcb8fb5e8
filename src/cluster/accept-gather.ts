import type { Worker } from 'node:cluster';
import type { Logger } from '../log/index.js';
import type { ProcessConfig } from './config.js';
import type { ToWorker } from './messages.js';

/** How often each worker tells the primary how busy it was (AcceptGather.report). */
export const LOAD_REPORT_MS = 250;
/** A worker silent this long counts as fully busy: stuck, stopped, or too loaded to report. */
const SILENT_MS = 4 * LOAD_REPORT_MS;
/** The accepting workers' mean load (see AcceptGather.report) above which one more joins them. */
export const JOIN_ABOVE = 0.5;
/** ... at or above which as many again join (a burst reaches every core within a few reports). */
export const SATURATED = 0.9;
/** One accepting worker leaves when the others would carry the load below this. */
export const LEAVE_BELOW = 0.3;
/**
 * Between the marks the count would stay where a burst left it, and workers sharing a load each
 * spend more on it than one doing it all (what gathering saves), so their sum overstates what one
 * would carry: after this long at one count with no one joining, one leaves to see. A probe that
 * brings a join back within PROBE_FAILED_MS doubles the wait, up to PROBE_MAX_MS.
 */
const PROBE_MS = 5_000;
const PROBE_MAX_MS = 80_000;
const PROBE_FAILED_MS = 2_000;

/**
 * How many workers should accept from now on, given the loads (0–1, see AcceptGather.report) of
 * those that accept now, out of `total` workers. Hysteresis between LEAVE_BELOW and JOIN_ABOVE keeps
 * the count from swinging at a steady load.
 */
export function acceptingCount(loads: readonly number[], total: number): number {
  const k = Math.max(1, loads.length);
  const sum = loads.reduce((a, b) => a + b, 0);
  const mean = sum / k;
  let next = k;
  if (mean >= SATURATED) next = 2 * k;
  else if (mean > JOIN_ABOVE) next = k + 1;
  else if (k > 1 && sum / (k - 1) < LEAVE_BELOW) next = k - 1;
  return Math.max(1, Math.min(total, next));
}

interface Seen {
  load: number;
  at: number;
  /** Out of descriptors (the worker's descriptorWatch): held, its place given to the next. */
  full: boolean;
  /** What the worker was last told: held back or accepting. */
  held: boolean;
}

/**
 * process.accept in the primary: the workers that listen are ordered (worker 0 first); the first
 * `accepting` of them take new connections, the rest are held back, and every LOAD_REPORT_MS the
 * count follows the accepting workers' reported loads (acceptingCount). With `spread` none is held.
 * A worker that exits leaves its place at once to the next in order; so does one out of descriptors,
 * which could take no connection (an idle session costs no CPU, so no load would bring the next one
 * in), until it has some to spare again. When every worker is out, none is held: each retries on its own.
 */
export class AcceptGather {
  readonly #log: Logger;
  /** The workers in order, as the primary has them (retiring ones excluded). */
  readonly #workers: () => Worker[];
  readonly #seen = new Map<Worker, Seen>();
  #mode: ProcessConfig['accept'];
  #accepting = 1;
  #timer: NodeJS.Timeout | undefined;
  /** When the count last changed, and when one last left to see (a probe). */
  #changedAt = Date.now();
  #probedAt = -Infinity;
  #probeMs: number;
  readonly #probe: { ms: number; maxMs: number; failedMs: number };

  constructor(log: Logger, workers: () => Worker[], mode: ProcessConfig['accept'], probe = { ms: PROBE_MS, maxMs: PROBE_MAX_MS, failedMs: PROBE_FAILED_MS }) {
    this.#log = log;
    this.#workers = workers;
    this.#mode = mode;
    this.#probe = probe;
    this.#probeMs = probe.ms;
    this.#timer = setInterval(() => this.#decide(), LOAD_REPORT_MS).unref();
  }

  /** A worker listens (and accepts, until told otherwise). */
  ready(worker: Worker): void {
    this.#seen.set(worker, { load: 0, at: Date.now(), held: false, full: false });
    this.#decide();
  }

  /**
   * A worker's report. Its load is the lower of its event loop's utilisation and its main thread's
   * CPU share (a loop that waits for a core the machine's other programs hold is busy by the wall
   * clock, but a second worker would wait as well), each report weighing half: one busy quarter
   * of a second does not let a worker in, a busy second does.
   */
  report(worker: Worker, elu: number, cpu: number, full = false): void {
    const seen = this.#seen.get(worker);
    if (seen === undefined || !Number.isFinite(elu) || !Number.isFinite(cpu)) return;
    seen.load = (seen.load + Math.min(1, Math.max(0, Math.min(elu, cpu)))) / 2;
    seen.at = Date.now();
    if (full !== seen.full) {
      seen.full = full;
      this.#decide();
    }
  }

  forget(worker: Worker): void {
    if (this.#seen.delete(worker)) this.#decide();
  }

  /** A reload may change process.accept. */
  setMode(mode: ProcessConfig['accept']): void {
    if (mode === this.#mode) return;
    this.#mode = mode;
    this.#decide();
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #decide(): void {
    if (this.#timer === undefined) return;
    const listening = this.#workers().filter((w) => this.#seen.has(w) && w.isConnected());
    if (listening.length === 0) return;
    const now = Date.now();
    const loadOf = (w: Worker) => {
      const seen = this.#seen.get(w)!;
      return now - seen.at > SILENT_MS ? 1 : seen.load;
    };
    // Those out of descriptors give their places to the next; when all are, none is held.
    const open = listening.filter((w) => !this.#seen.get(w)!.full);
    const order = open.length > 0 ? open : listening;
    const was = Math.min(this.#accepting, order.length);
    let next = this.#mode === 'spread' ? order.length : acceptingCount(order.slice(0, was).map(loadOf), order.length);
    if (this.#mode === 'gather') next = this.#probed(was, next, now);
    const accepting = new Set(this.#mode === 'spread' || open.length === 0 ? listening : open.slice(0, next));
    let told = 0;
    for (const w of listening) {
      const seen = this.#seen.get(w)!;
      const held = !accepting.has(w);
      if (held === seen.held) continue;
      seen.held = held;
      w.send({ t: 'hold', held } satisfies ToWorker);
      told++;
    }
    if (next !== this.#accepting || told > 0) {
      const full = listening.length - open.length;
      this.#log.debug({ event: 'accepting_workers', workers: accepting.size, of: listening.length, loads: listening.map((w) => Number(loadOf(w).toFixed(2))), ...(full > 0 ? { full } : {}) }, `${accepting.size} of ${listening.length} workers take new connections${full > 0 ? ` (${full} out of descriptors)` : ''}`);
    }
    if (next !== this.#accepting) this.#changedAt = now;
    this.#accepting = next;
  }

  /** `next` (acceptingCount's answer to `was`), or one fewer as a probe; the probe's wait kept up to date. */
  #probed(was: number, next: number, now: number): number {
    if (next > was) {
      if (now - this.#probedAt < this.#probe.failedMs) this.#probeMs = Math.min(this.#probe.maxMs, 2 * this.#probeMs);
      return next;
    }
    if (next < was) return next;
    if (was > 1 && now - this.#changedAt >= this.#probeMs) {
      this.#probedAt = now;
      return was - 1;
    }
    // A probe that held: the next one waits no longer than the first.
    if (this.#probedAt === this.#changedAt && now - this.#changedAt >= this.#probe.failedMs) this.#probeMs = this.#probe.ms;
    return next;
  }
}
