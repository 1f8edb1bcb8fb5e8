/** What the batch hands its lines to: pino's SonicBoom destination. */
export interface LineSink {
  write(data: string): boolean;
  flush(cb?: (err?: Error) => void): void;
}

/**
 * Lines logged during one turn of the event loop leave in one write, at the end of the turn
 * (setImmediate). Under load a login's two or three lines share a system call with those of
 * other logins; a quiet server still writes each line within the turn it was logged in.
 */
export class TurnBatch {
  readonly #sink: LineSink;
  #pending = '';
  #scheduled = false;

  constructor(sink: LineSink) {
    this.#sink = sink;
    // Before the sink's own exit hook (registered when it was made) flushes it synchronously.
    process.prependListener('exit', this.#pass);
  }

  write(line: string): boolean {
    this.#pending += line;
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#pass);
    }
    return true;
  }

  /** pino's logger.flush(): what is pending, then the sink. */
  flush(cb?: (err?: Error) => void): void {
    this.#pass();
    this.#sink.flush(cb);
  }

  readonly #pass = (): void => {
    this.#scheduled = false;
    if (this.#pending === '') return;
    const data = this.#pending;
    this.#pending = '';
    this.#sink.write(data);
  };
}
