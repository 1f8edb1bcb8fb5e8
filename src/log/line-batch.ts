/** What the batch hands its lines to: pino's SonicBoom destination. */
export interface LineSink {
  write(data: string): boolean;
  flush(cb?: (err?: Error) => void): void;
}

/** How long a line may wait for others before it is written. */
export const LINE_BATCH_MS = 5;
/** Pending bytes that are written at once, without waiting for the timer. */
export const LINE_BATCH_BYTES = 64 * 1024;

export interface LineBatchOptions {
  /** How long a line may wait for others. */
  intervalMs?: number;
  /** Pending bytes that leave at once. */
  maxBytes?: number;
  /** Writes to the sink's destination synchronously: what is pending at exit goes this way. */
  writeSync?: (data: string) => void;
}

/**
 * Lines logged within a few milliseconds leave in one write. The sink writes asynchronously, through
 * libuv's thread pool: each write costs a wake-up of a pool thread and a completion back on the loop,
 * so a write per login cost about 8% of a proxied login's CPU (bench/RESULTS.md, item 23). A line
 * waits at most `intervalMs` (or until `maxBytes` are pending).
 *
 * At the end: the timer holds the loop open, so a process that runs out of work writes its last lines
 * before pino's beforeExit hook ends the sink. On process.exit() or a crash there is no loop left:
 * the exit hook, which runs after the sink's own (it flushes what the sink holds), writes what is
 * pending with `writeSync`. An asynchronous write begun then would not finish.
 */
export class LineBatch {
  readonly #sink: LineSink;
  readonly #intervalMs: number;
  readonly #maxBytes: number;
  readonly #writeSync: ((data: string) => void) | undefined;
  #pending = '';
  #timer: NodeJS.Timeout | undefined;

  constructor(sink: LineSink, opts: LineBatchOptions = {}) {
    this.#sink = sink;
    this.#intervalMs = opts.intervalMs ?? LINE_BATCH_MS;
    this.#maxBytes = opts.maxBytes ?? LINE_BATCH_BYTES;
    this.#writeSync = opts.writeSync;
    process.on('exit', this.#atExit);
  }

  write(line: string): boolean {
    this.#pending += line;
    if (this.#pending.length >= this.#maxBytes) this.#pass();
    else if (this.#timer === undefined) this.#timer = setTimeout(this.#pass, this.#intervalMs);
    return true;
  }

  /** pino's logger.flush(): what is pending, then the sink. */
  flush(cb?: (err?: Error) => void): void {
    this.#pass();
    this.#sink.flush(cb);
  }

  readonly #atExit = (): void => {
    if (this.#writeSync === undefined || this.#pending === '') return this.#pass();
    clearTimeout(this.#timer);
    const data = this.#pending;
    this.#pending = '';
    this.#writeSync(data);
  };

  readonly #pass = (): void => {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending === '') return;
    const data = this.#pending;
    this.#pending = '';
    this.#sink.write(data);
  };
}
