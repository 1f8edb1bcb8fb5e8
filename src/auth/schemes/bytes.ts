import { createHash, randomInt, timingSafeEqual } from 'node:crypto';

/**
 * Constant-time equality. Equal lengths compare directly; otherwise both sides are
 * hashed first so the comparison time does not depend on where they differ.
 */
export function safeEqual(a: string | Buffer, b: string | Buffer): boolean {
  const x = typeof a === 'string' ? Buffer.from(a, 'utf8') : a;
  const y = typeof b === 'string' ? Buffer.from(b, 'utf8') : b;
  if (x.length === y.length) return timingSafeEqual(x, y);
  const hx = createHash('sha256').update(x).digest();
  const hy = createHash('sha256').update(y).digest();
  // Compare anyway so a length mismatch costs about as much as a content mismatch.
  timingSafeEqual(hx, hy);
  return false;
}

/** Strict hex: even length, hex digits only (either case). */
export function decodeHex(s: string): Buffer | undefined {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return undefined;
  return Buffer.from(s, 'hex');
}

/** Strict base64 (RFC 4648 alphabet, padding optional); Buffer.from alone accepts junk. */
export function decodeBase64(s: string): Buffer | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s)) return undefined;
  const body = s.replace(/=+$/, '');
  if (body.length % 4 === 1) return undefined;
  if (s.length !== body.length && s.length % 4 !== 0) return undefined;
  return Buffer.from(body, 'base64');
}

/** The crypt(3) salt alphabet, as Dovecot's password_generate_salt uses. */
const SALT_CHARS = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';

export function randomSalt(length: number): string {
  let out = '';
  for (let i = 0; i < length; i++) out += SALT_CHARS[randomInt(SALT_CHARS.length)];
  return out;
}
