/** What the batch hands its lines to: pino's SonicBoom destination. */
export interface LineSink {
  write(data: string): boolean;
  flush(cb?: (err?: Error) => void): void;
}

/** How long a line may wait for others before it is written. */
export const LINE_BATCH_MS = 5;
/** Pending bytes that are written at once, without waiting for the timer. */
export const LINE_BATCH_BYTES = 64 * 1024;

/**
 * Lines logged within a few milliseconds leave in one write. The sink writes asynchronously, through
 * libuv's thread pool: each write costs a wake-up of a pool thread and a completion back on the loop,
 * so a write per login cost about 8% of a proxied login's CPU (bench/RESULTS.md, item 23). A line
 * waits at most `intervalMs` (or until `maxBytes` are pending); what is pending when the process
 * exits, a crash included, is written synchronously by the exit hook.
 */
export class LineBatch {
  readonly #sink: LineSink;
  readonly #intervalMs: number;
  readonly #maxBytes: number;
  #pending = '';
  #timer: NodeJS.Timeout | undefined;

  constructor(sink: LineSink, intervalMs = LINE_BATCH_MS, maxBytes = LINE_BATCH_BYTES) {
    this.#sink = sink;
    this.#intervalMs = intervalMs;
    this.#maxBytes = maxBytes;
    // Before the sink's own exit hook (registered when it was made) flushes it synchronously.
    process.prependListener('exit', this.#pass);
  }

  write(line: string): boolean {
    this.#pending += line;
    if (this.#pending.length >= this.#maxBytes) this.#pass();
    else if (this.#timer === undefined) {
      this.#timer = setTimeout(this.#pass, this.#intervalMs);
      // A quiet process may exit with lines pending: the exit hook writes them.
      this.#timer.unref();
    }
    return true;
  }

  /** pino's logger.flush(): what is pending, then the sink. */
  flush(cb?: (err?: Error) => void): void {
    this.#pass();
    this.#sink.flush(cb);
  }

  readonly #pass = (): void => {
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#pending === '') return;
    const data = this.#pending;
    this.#pending = '';
    this.#sink.write(data);
  };
}
