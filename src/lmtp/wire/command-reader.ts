import { DEFAULT_LMTP_WIRE_LIMITS, type LmtpWireLimits } from './limits.js';
import { LineSplitter } from '../../core/index.js';
import { DataReader, type DataResult } from './data-reader.js';
import { parseCommand, type LmtpCommand, type LmtpSyntaxError } from './command-parser.js';

export type LmtpReadErrorCode = 'lineTooLong' | 'nul';

/** Never fatal: the offending line is dropped and reading goes on. The front decides what to say. */
export interface LmtpReadError {
  kind: 'error';
  code: LmtpReadErrorCode;
  message: string;
}

export type LmtpReadResult =
  | { kind: 'command'; command: LmtpCommand }
  | LmtpSyntaxError
  | LmtpReadError
  | DataResult
  | { kind: 'needMore' };

const NEED_MORE: LmtpReadResult = Object.freeze({ kind: 'needMore' });

/**
 * Reads LMTP commands from a client (RFC 2033, RFC 5321 §4.1), and after `beginData()` the
 * message body up to its terminating dot line (RFC 5321 §4.1.1.4). Fed bytes, then pulled until
 * `needMore`; no I/O, no timers. Pipelined commands (RFC 2920) come out one by one.
 */
export class LmtpCommandReader {
  readonly limits: LmtpWireLimits;
  readonly #lines: LineSplitter;
  #data: DataReader | undefined;

  constructor(limits?: Partial<LmtpWireLimits>) {
    this.limits = { ...DEFAULT_LMTP_WIRE_LIMITS, ...limits };
    this.#lines = new LineSplitter(this.limits.maxLineBytes);
  }

  feed(chunk: Uint8Array): void {
    this.#lines.feed(chunk);
  }

  get bufferedBytes(): number {
    return this.#lines.bufferedBytes;
  }

  /** True between `beginData()` and the `dataEnd` result. */
  get inData(): boolean {
    return this.#data !== undefined;
  }

  /**
   * The front has answered DATA with 354: what follows is the body. (RFC 2920 §3.1: DATA ends a
   * pipelined group, so nothing after it was read as a command.)
   */
  beginData(): void {
    this.#data = new DataReader();
  }

  /** After STARTTLS (RFC 3207 §4.2): whatever the client pipelined in the clear is dropped. */
  discardBuffered(): void {
    this.#lines.takeBuffered();
  }

  next(): LmtpReadResult {
    if (this.#data) {
      const r = this.#data.next(this.#lines);
      if (r.kind === 'dataEnd') this.#data = undefined;
      return r;
    }
    const r = this.#lines.next();
    switch (r.kind) {
      case 'needMore':
        return NEED_MORE;
      case 'tooLong':
        return { kind: 'error', code: 'lineTooLong', message: 'Line too long' };
      case 'line':
        if (r.line.includes(0)) return { kind: 'error', code: 'nul', message: 'NUL in command line' };
        return parseCommand(r.line);
      default: {
        const never: never = r;
        return never;
      }
    }
  }
}
