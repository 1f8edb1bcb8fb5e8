import { ByteQueue } from './byte-queue.js';

const CR = 0x0d;
const LF = 0x0a;

export type SplitResult =
  /** `line` is without its line ending (CRLF, or a bare LF); `raw` is with it. Both are copies. */
  | { kind: 'line'; line: Buffer; raw: Buffer }
  | { kind: 'needMore' }
  /** The line passed the limit; it has been (or will be) dropped up to its LF. */
  | { kind: 'tooLong' };

const NEED_MORE: SplitResult = Object.freeze({ kind: 'needMore' });
const TOO_LONG: SplitResult = Object.freeze({ kind: 'tooLong' });

/**
 * Cuts input into lines for the line protocols (POP3, RFC 1939 §3; SMTP/LMTP, RFC 5321 §2.3.8):
 * CRLF-terminated, a bare LF accepted as Dovecot does.
 * Never holds more than `maxLineBytes` of one line. No I/O.
 */
export class LineSplitter {
  readonly #input = new ByteQueue();
  readonly #maxLineBytes: number;
  /** Unread bytes already searched for LF. */
  #scanned = 0;
  /** Dropping the rest of a too long line, up to its LF. */
  #skipping = false;

  constructor(maxLineBytes: number) {
    this.#maxLineBytes = maxLineBytes;
  }

  feed(chunk: Uint8Array): void {
    this.#input.push(chunk);
  }

  get bufferedBytes(): number {
    return this.#input.size;
  }

  /**
   * The unread bytes, for a reader that takes over at a line boundary (the DATA body, RFC 5321
   * §4.1.1.4); line splitting resumes at whatever that reader leaves.
   */
  unread(): ByteQueue {
    this.#scanned = 0;
    this.#skipping = false;
    return this.#input;
  }

  takeBuffered(): Buffer {
    this.#scanned = 0;
    this.#skipping = false;
    return this.#input.takeAll();
  }

  next(): SplitResult {
    for (;;) {
      const lf = this.#input.indexOf(LF, this.#scanned);
      if (this.#skipping) {
        this.#scanned = 0;
        if (lf < 0) {
          this.#input.skip(this.#input.size);
          return NEED_MORE;
        }
        this.#input.skip(lf + 1);
        this.#skipping = false;
        continue;
      }
      if (lf < 0) {
        if (this.#input.size > this.#maxLineBytes) {
          this.#input.skip(this.#input.size);
          this.#scanned = 0;
          this.#skipping = true;
          return TOO_LONG;
        }
        this.#scanned = this.#input.size;
        return NEED_MORE;
      }
      this.#scanned = 0;
      if (lf + 1 > this.#maxLineBytes) {
        this.#input.skip(lf + 1);
        return TOO_LONG;
      }
      const end = lf > 0 && this.#input.byteAt(lf - 1) === CR ? lf - 1 : lf;
      const raw = this.#input.take(lf + 1);
      return { kind: 'line', line: raw.subarray(0, end), raw };
    }
  }
}
