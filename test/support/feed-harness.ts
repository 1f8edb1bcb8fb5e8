// Test support for any wire codec (IMAP, POP3, ...): feed a reader its input in pieces, and check
// that where the input is cut never changes what comes out (STYLE "Tests").
import assert from 'node:assert/strict';

export interface Pullable<R> {
  feed(chunk: Uint8Array): void;
  next(): R;
  readonly bufferedBytes: number;
}

type Result = { kind: string; fatal?: boolean };

export interface CollectOptions {
  /** Checked after every `needMore`: the reader holds no more than this. */
  maxHeld?: number;
}

/** Feeds the pieces in order, pulling after each until `needMore`; stops at a fatal error. */
export function collect<R extends Result>(reader: Pullable<R>, pieces: readonly Uint8Array[], opts: CollectOptions = {}): R[] {
  const out: R[] = [];
  for (const piece of pieces) {
    reader.feed(piece);
    for (;;) {
      const r = reader.next();
      if (r.kind === 'needMore') {
        if (opts.maxHeld !== undefined) assert.ok(reader.bufferedBytes <= opts.maxHeld, `holds ${reader.bufferedBytes} > ${opts.maxHeld}`);
        break;
      }
      out.push(r);
      if (r.kind === 'error' && r.fatal === true) return out;
    }
  }
  return out;
}

/** Split points: all of them for short input, else both ends and evenly spread ones. */
function splitPoints(length: number, maxPoints: number): number[] {
  if (length - 1 <= maxPoints) return Array.from({ length: Math.max(0, length - 1) }, (_, i) => i + 1);
  const points = new Set<number>();
  for (let i = 1; i <= 16 && i < length; i++) points.add(i).add(length - i);
  const step = length / maxPoints;
  for (let i = 1; i < maxPoints; i++) points.add(Math.floor(i * step));
  return [...points].filter((p) => p > 0 && p < length).sort((a, b) => a - b);
}

/**
 * Reads `input` whole, then cut in two at every position (or `maxPoints` of them) and byte
 * by byte, asserting the same results each time. Returns the results of the whole read.
 */
export function assertSameAtEverySplit<R extends Result>(
  make: () => Pullable<R>, input: Buffer, opts: CollectOptions & { maxPoints?: number } = {},
): R[] {
  const whole = collect(make(), [input], opts);
  for (const i of splitPoints(input.length, opts.maxPoints ?? 4096)) {
    assert.deepStrictEqual(collect(make(), [input.subarray(0, i), input.subarray(i)], opts), whole, `input cut at byte ${i}`);
  }
  if (input.length <= 20_000) {
    const bytes = Array.from({ length: input.length }, (_, i) => input.subarray(i, i + 1));
    assert.deepStrictEqual(collect(make(), bytes, opts), whole, 'input fed byte by byte');
  }
  return whole;
}
