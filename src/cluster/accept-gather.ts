import type { Worker } from 'node:cluster';
import type { Logger } from '../log/index.js';
import type { ProcessConfig } from './config.js';
import type { ToWorker } from './messages.js';

/** How often each worker tells the primary how busy its event loop was. */
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
 * How many workers should accept from now on, given the loads (event-loop utilisation, 0–1) of
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
  /** What the worker was last told: held back or accepting. */
  held: boolean;
}

/**
 * process.accept in the primary: the workers that listen are ordered (worker 0 first); the first
 * `accepting` of them take new connections, the rest are held back, and every LOAD_REPORT_MS the
 * count follows the accepting workers' reported loads (acceptingCount). With `spread` none is held.
 * A worker that exits leaves its place at once to the next in order.
 */
export class AcceptGather {
  readonly #log: Logger;
  /** The workers in order, as the primary has them (retiring ones excluded). */
  readonly #workers: () => Worker[];
  readonly #seen = new Map<Worker, Seen>();
  #mode: ProcessConfig['accept'];
  #accepting = 1;
  #timer: NodeJS.Timeout | undefined;

  constructor(log: Logger, workers: () => Worker[], mode: ProcessConfig['accept']) {
    this.#log = log;
    this.#workers = workers;
    this.#mode = mode;
    this.#timer = setInterval(() => this.#decide(), LOAD_REPORT_MS).unref();
  }

  /** A worker listens (and accepts, until told otherwise). */
  ready(worker: Worker): void {
    this.#seen.set(worker, { load: 0, at: Date.now(), held: false });
    this.#decide();
  }

  /**
   * A worker's report. Its load is the lower of its event loop's utilisation and its main thread's
   * CPU share: a loop that waits for a core the machine's other programs hold is busy by the wall
   * clock, but a second worker would wait as well.
   */
  report(worker: Worker, elu: number, cpu: number): void {
    const seen = this.#seen.get(worker);
    if (seen === undefined || !Number.isFinite(elu) || !Number.isFinite(cpu)) return;
    seen.load = Math.min(1, Math.max(0, Math.min(elu, cpu)));
    seen.at = Date.now();
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
    const was = Math.min(this.#accepting, listening.length);
    const next = this.#mode === 'spread' ? listening.length : acceptingCount(listening.slice(0, was).map(loadOf), listening.length);
    let told = 0;
    for (const [i, w] of listening.entries()) {
      const seen = this.#seen.get(w)!;
      const held = i >= next;
      if (held === seen.held) continue;
      seen.held = held;
      w.send({ t: 'hold', held } satisfies ToWorker);
      told++;
    }
    if (next !== this.#accepting || told > 0) {
      this.#log.debug({ event: 'accepting_workers', workers: next, of: listening.length, loads: listening.map((w) => Number(loadOf(w).toFixed(2))) }, `${next} of ${listening.length} workers take new connections`);
    }
    this.#accepting = next;
  }
}
