import type { ByteQueue } from '../../core/index.js';
import type { LineSplitter } from '../../core/index.js';

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

/**
 * A piece of the message body exactly as the client sent it, still dot-stuffed: a relay writes
 * the pieces through unchanged and then its own ".\r\n". `dataEnd` follows the terminating line,
 * which is never part of a piece.
 */
export type DataResult = { kind: 'data'; bytes: Buffer } | { kind: 'dataEnd' };

const NEED_MORE = Object.freeze({ kind: 'needMore' as const });
const DATA_END: DataResult = Object.freeze({ kind: 'dataEnd' });

/**
 * Finds the end of a DATA body (RFC 5321 §4.1.1.4: a line holding only "."; a bare LF ending is
 * accepted as for commands) without holding the message: it keeps back at most the two bytes
 * of a line start that could still be that line.
 */
export class DataReader {
  /** The next unread byte begins a line (the DATA command line itself ended just before). */
  #atLineStart = true;
  #ended = false;

  next(lines: LineSplitter): DataResult | typeof NEED_MORE {
    const input = lines.unread();
    if (this.#ended) return NEED_MORE;
    let pos = 0;
    let lineStart = this.#atLineStart;
    for (;;) {
      if (lineStart) {
        const t = terminatorAt(input, pos);
        if (t === 'unknown') break;
        if (t > 0) {
          if (pos > 0) return this.#piece(input, pos, true);
          input.skip(t);
          this.#ended = true;
          return DATA_END;
        }
      }
      const lf = input.indexOf(LF, pos);
      if (lf < 0) {
        pos = input.size;
        lineStart = false;
        break;
      }
      pos = lf + 1;
      lineStart = true;
    }
    if (pos === 0) return NEED_MORE;
    return this.#piece(input, pos, lineStart);
  }

  #piece(input: ByteQueue, n: number, endsAtLineStart: boolean): DataResult {
    this.#atLineStart = endsAtLineStart;
    return { kind: 'data', bytes: input.take(n) };
  }
}

/** At a line start: the length of a terminating ".\r\n" / ".\n" there, 0 for none, or 'unknown' yet. */
function terminatorAt(input: ByteQueue, i: number): number | 'unknown' {
  const left = input.size - i;
  if (left < 1) return 'unknown';
  if (input.byteAt(i) !== DOT) return 0;
  if (left < 2) return 'unknown';
  const b1 = input.byteAt(i + 1);
  if (b1 === LF) return 2;
  if (b1 !== CR) return 0;
  if (left < 3) return 'unknown';
  return input.byteAt(i + 2) === LF ? 3 : 0;
}
