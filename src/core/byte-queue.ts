const EMPTY = Buffer.alloc(0);
const MIN_CAPACITY = 1024;
/** An idle reader gives back a buffer bigger than this, so idle connections stay small. */
const KEEP_CAPACITY = 16 * 1024;

/**
 * The unread input of a wire reader (IMAP, POP3): one growable buffer with a read offset, so feeding a
 * chunk copies it once and consuming is O(1). Offsets in the API are relative to the
 * first unread byte. Slices are views, valid until the next push or skip.
 */
export class ByteQueue {
  private buf: Buffer = EMPTY;
  private head = 0;
  private tail = 0;

  get size(): number {
    return this.tail - this.head;
  }

  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.tail + chunk.length > this.buf.length) this.makeRoom(chunk.length);
    this.buf.set(chunk, this.tail);
    this.tail += chunk.length;
  }

  byteAt(i: number): number {
    return this.buf[this.head + i]!;
  }

  /** Index of `byte` at or after `from`, or -1. */
  indexOf(byte: number, from: number): number {
    if (from >= this.size) return -1;
    return this.view().indexOf(byte, from);
  }

  /** A view of [from, to); no copy. */
  slice(from: number, to: number): Buffer {
    return this.buf.subarray(this.head + from, this.head + to);
  }

  /** A copy of the first n bytes, which are then consumed. */
  take(n: number): Buffer {
    const out = Buffer.from(this.slice(0, n));
    this.skip(n);
    return out;
  }

  /**
   * Everything unread, in memory of its own (not a slice of Node's shared pool), and the storage let
   * go: for a reader whose input goes elsewhere from now on (the hand-over to the pipe).
   */
  takeAll(): Buffer {
    const n = this.size;
    const out = n === 0 ? EMPTY : Buffer.allocUnsafeSlow(n);
    if (n > 0) this.buf.copy(out, 0, this.head, this.tail);
    this.buf = EMPTY;
    this.head = this.tail = 0;
    return out;
  }

  skip(n: number): void {
    this.head += n;
    if (this.head === this.tail) {
      this.head = this.tail = 0;
      if (this.buf.length > KEEP_CAPACITY) this.buf = EMPTY;
    }
  }

  private view(): Buffer {
    return this.buf.subarray(this.head, this.tail);
  }

  private makeRoom(extra: number): void {
    const used = this.size;
    const need = used + extra;
    if (need <= this.buf.length && used <= this.buf.length / 2) {
      this.buf.copyWithin(0, this.head, this.tail);
    } else {
      const next = Buffer.allocUnsafe(Math.max(need, this.buf.length * 2, MIN_CAPACITY));
      this.buf.copy(next, 0, this.head, this.tail);
      this.buf = next;
    }
    this.head = 0;
    this.tail = used;
  }
}
