/**
 * MD5 (RFC 1321) with its chaining state exposed, which node:crypto does not offer.
 * CRAM-MD5's stored credential is the HMAC-MD5 state after the key block
 * (Dovecot's hmac_md5_get_cram_context), so it needs the compression function itself.
 */

export type Md5State = [number, number, number, number];

const IV: Md5State = [0x67452301, 0xefcdab89, 0x98badcfe, 0x10325476];
const S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
const K = Array.from({ length: 64 }, (_, i) => Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0);

export function md5Initial(): Md5State {
  return [...IV];
}

/** One 64-byte block into `state` (RFC 1321 §3.4). */
export function md5Block(state: Md5State, block: Uint8Array, offset = 0): Md5State {
  const m = new Uint32Array(16);
  for (let i = 0; i < 16; i++) {
    const o = offset + i * 4;
    m[i] = (block[o]! | (block[o + 1]! << 8) | (block[o + 2]! << 16) | (block[o + 3]! << 24)) >>> 0;
  }
  let [a, b, c, d] = state;
  for (let i = 0; i < 64; i++) {
    const round = i >> 4;
    let f: number;
    let g: number;
    if (round === 0) [f, g] = [(b & c) | (~b & d), i];
    else if (round === 1) [f, g] = [(d & b) | (~d & c), (5 * i + 1) % 16];
    else if (round === 2) [f, g] = [b ^ c ^ d, (3 * i + 5) % 16];
    else [f, g] = [c ^ (b | ~d), (7 * i) % 16];
    const s = S[round * 4 + (i % 4)]!;
    const x = (a + f + K[i]! + m[g]!) >>> 0;
    [a, b, c, d] = [d, (b + ((x << s) | (x >>> (32 - s)))) >>> 0, b, c];
  }
  return [(state[0] + a) >>> 0, (state[1] + b) >>> 0, (state[2] + c) >>> 0, (state[3] + d) >>> 0];
}

/**
 * Finishes MD5 of `data`, starting from `state` after `prefixBytes` already hashed
 * (a multiple of 64): the message padding counts those bytes too.
 */
export function md5Finish(state: Md5State, data: Uint8Array, prefixBytes = 0): Buffer {
  const total = prefixBytes + data.length;
  const padded = Buffer.alloc((((data.length + 8) >> 6) + 1) * 64);
  padded.set(data);
  padded[data.length] = 0x80;
  // Length in bits, little-endian 64-bit; JS numbers are exact here up to 2^53.
  padded.writeUInt32LE((total * 8) >>> 0, padded.length - 8);
  padded.writeUInt32LE(Math.floor((total * 8) / 2 ** 32) >>> 0, padded.length - 4);
  let st = state;
  for (let o = 0; o < padded.length; o += 64) st = md5Block(st, padded, o);
  return stateBytes(st);
}

/** The state as Dovecot stores it: a, b, c, d, each little-endian. */
export function stateBytes(state: Md5State): Buffer {
  const out = Buffer.alloc(16);
  state.forEach((w, i) => out.writeUInt32LE(w, i * 4));
  return out;
}

export function stateFromBytes(buf: Uint8Array, offset = 0): Md5State {
  const b = Buffer.from(buf.buffer, buf.byteOffset + offset, 16);
  return [b.readUInt32LE(0), b.readUInt32LE(4), b.readUInt32LE(8), b.readUInt32LE(12)];
}
