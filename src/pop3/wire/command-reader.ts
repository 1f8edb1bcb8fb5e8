import { DEFAULT_POP3_WIRE_LIMITS, type Pop3WireLimits } from './limits.js';
import { LineSplitter, upperCase } from '../../core/index.js';

/** One client command: the keyword upper-cased, and the rest of the line after one space. */
export interface Pop3Command {
  name: string;
  /** UTF-8 text after the keyword and its one space (RFC 1939 §3); '' when there is none. PASS keeps spaces. */
  args: string;
}

export type Pop3ReadErrorCode = 'lineTooLong' | 'nul';

/** Never fatal: the offending line is dropped and reading goes on. The front decides what to say. */
export interface Pop3ReadError {
  kind: 'error';
  code: Pop3ReadErrorCode;
  message: string;
}

export type Pop3ReadResult = { kind: 'command'; command: Pop3Command } | { kind: 'needMore' } | Pop3ReadError;

const NEED_MORE: Pop3ReadResult = Object.freeze({ kind: 'needMore' });
const SP = 0x20;

/** A keyword of 7-bit characters only: toUpperCase() folds a-z and nothing else. */
const ASCII = /^[\x00-\x7f]*$/;

/**
 * Reads POP3 commands from a client (RFC 1939 §3, RFC 2449 §4). Fed bytes, then pulled until
 * `needMore`; no I/O, no timers. Pipelined commands (RFC 2449 §6.6) come out one by one.
 */
export class Pop3CommandReader {
  readonly limits: Pop3WireLimits;
  readonly #lines: LineSplitter;

  constructor(limits?: Partial<Pop3WireLimits>) {
    this.limits = { ...DEFAULT_POP3_WIRE_LIMITS, ...limits };
    this.#lines = new LineSplitter(this.limits.maxLineBytes);
  }

  feed(chunk: Uint8Array): void {
    this.#lines.feed(chunk);
  }

  get bufferedBytes(): number {
    return this.#lines.bufferedBytes;
  }

  /**
   * Hands over the unread bytes and forgets them: after login they belong to the backend;
   * after STLS they must be dropped (RFC 2595 §4: no plaintext command injection).
   */
  takeBuffered(): Buffer {
    return this.#lines.takeBuffered();
  }

  next(): Pop3ReadResult {
    const line = this.#line();
    if (line === 'needMore') return NEED_MORE;
    if (!Buffer.isBuffer(line)) return line;
    const sp = line.indexOf(SP);
    const keyword = line.toString('latin1', 0, sp < 0 ? line.length : sp);
    // Keywords are ASCII and case-insensitive (RFC 1939 §3); only a-z are folded. upperCase() does that for
    // an ASCII keyword (every real one) and costs nothing for one already upper-case; a keyword with other
    // characters, which it would fold too, takes the `replace` (V8's slow path).
    const upper = upperCase(keyword);
    const name = upper === keyword || ASCII.test(keyword) ? upper : keyword.replace(/[a-z]+/g, (s) => s.toUpperCase());
    return { kind: 'command', command: { name, args: sp < 0 ? '' : line.toString('utf8', sp + 1) } };
  }

  /** One raw line without its line ending: a SASL response after AUTH (RFC 5034 §4), where "*" cancels. */
  nextLine(): Buffer | 'needMore' | Pop3ReadError {
    return this.#line();
  }

  #line(): Buffer | 'needMore' | Pop3ReadError {
    const r = this.#lines.next();
    switch (r.kind) {
      case 'needMore':
        return 'needMore';
      case 'tooLong':
        return { kind: 'error', code: 'lineTooLong', message: 'Line too long' };
      case 'line':
        // NUL is no printable ASCII (RFC 1939 §3), and would split a SASL PLAIN message built from it.
        if (r.line.includes(0)) return { kind: 'error', code: 'nul', message: 'NUL in command line' };
        return r.line;
      default: {
        const never: never = r;
        return never;
      }
    }
  }
}
