import { createHash } from 'node:crypto';
import { safeEqual } from './bytes.js';
import type { SchemeDescriptor } from './descriptor.js';
import { md5Block, md5Finish, md5Initial, stateBytes, stateFromBytes } from './md5-state.js';
import { decodeDigest } from './plain-md5.js';

/** Outer then inner MD5 state, 16 bytes each (Dovecot's CRAM_MD5_CONTEXTLEN). */
export const CRAM_MD5_CONTEXT_LEN = 32;
const BLOCK = 64;

/**
 * The HMAC-MD5 key schedule (RFC 2104 §2) stopped after the ipad/opad blocks: what
 * {CRAM-MD5} stores, so a server can answer CRAM-MD5 without the plaintext.
 */
export function cramMd5Context(plain: string): Buffer {
  let key = Buffer.from(plain, 'utf8');
  if (key.length > BLOCK) key = createHash('md5').update(key).digest();
  const ipad = Buffer.alloc(BLOCK, 0x36);
  const opad = Buffer.alloc(BLOCK, 0x5c);
  for (let i = 0; i < key.length; i++) {
    ipad[i]! ^= key[i]!;
    opad[i]! ^= key[i]!;
  }
  const inner = md5Block(md5Initial(), ipad);
  const outer = md5Block(md5Initial(), opad);
  return Buffer.concat([stateBytes(outer), stateBytes(inner)]);
}

/**
 * HMAC-MD5(password, challenge) from a stored context: the digest a CRAM-MD5 client
 * sends in hex (RFC 2195 §2). `context` is the 32 raw bytes.
 */
export function cramMd5Digest(context: Uint8Array, challenge: string | Uint8Array): Buffer {
  const data = typeof challenge === 'string' ? Buffer.from(challenge, 'utf8') : challenge;
  const innerDigest = md5Finish(stateFromBytes(context, 16), data, BLOCK);
  return md5Finish(stateFromBytes(context, 0), innerDigest, BLOCK);
}

/** Decodes a {CRAM-MD5} value (hex as Dovecot writes it, or base64) to its raw context. */
export function decodeCramMd5(stored: string): Buffer {
  return decodeDigest(stored, CRAM_MD5_CONTEXT_LEN);
}

/** {CRAM-MD5}, also named HMAC-MD5: the stored HMAC-MD5 context, hex. */
export const cramMd5Scheme: SchemeDescriptor = {
  name: 'CRAM-MD5',
  aliases: ['HMAC-MD5'],
  encoding: 'hex',
  rawLength: CRAM_MD5_CONTEXT_LEN,
  verify: (plain, stored) => safeEqual(cramMd5Context(plain), decodeCramMd5(stored)),
  generate: (plain) => cramMd5Context(plain).toString('hex'),
};
