import { createHash } from 'node:crypto';
import { AuthError } from '../errors.js';
import { randomSalt, safeEqual } from './bytes.js';
import type { SchemeDescriptor } from './descriptor.js';
import { plainMd5Scheme } from './plain-md5.js';

// crypt(3)'s base64 alphabet, least significant 6 bits first.
const ITOA64 = './0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
const MAGIC = '$1$';
const SALT_LEN = 8;
const MD5_CRYPT = /^\$1\$([^$]{0,8})\$[./0-9A-Za-z]{22}$/;

const md5 = (...parts: Buffer[]) => {
  const h = createHash('md5');
  for (const p of parts) h.update(p);
  return h.digest();
};

/**
 * Poul-Henning Kamp's MD5-crypt, as Dovecot's password_generate_md5_crypt: the salt is
 * the text after `$1$` up to the next `$`, at most 8 characters.
 */
export function md5Crypt(plain: string, salt: string): string {
  const pw = Buffer.from(plain, 'utf8');
  const sl = Buffer.from(salt, 'utf8');
  const alt = md5(pw, sl, pw);
  const ctx = createHash('md5').update(pw).update(MAGIC).update(sl);
  for (let n = pw.length; n > 0; n -= 16) ctx.update(alt.subarray(0, Math.min(n, 16)));
  // "Then something really weird...": a zero byte or the first password byte per bit.
  for (let i = pw.length; i !== 0; i >>= 1) ctx.update((i & 1) !== 0 ? Buffer.alloc(1) : pw.subarray(0, 1));
  let fin = ctx.digest();
  for (let i = 0; i < 1000; i++) {
    const parts: Buffer[] = [(i & 1) !== 0 ? pw : fin];
    if (i % 3 !== 0) parts.push(sl);
    if (i % 7 !== 0) parts.push(pw);
    parts.push((i & 1) !== 0 ? fin : pw);
    fin = md5(...parts);
  }
  let out = `${MAGIC}${salt}$`;
  const to64 = (v: number, n: number) => {
    for (; n > 0; n--, v >>= 6) out += ITOA64[v & 0x3f];
  };
  const f = (i: number) => fin[i]!;
  for (const [a, b, c] of [[0, 6, 12], [1, 7, 13], [2, 8, 14], [3, 9, 15], [4, 10, 5]] as const) {
    to64((f(a) << 16) | (f(b) << 8) | f(c), 4);
  }
  to64(f(11), 2);
  return out;
}

export function verifyMd5Crypt(plain: string, stored: string): boolean {
  const m = MD5_CRYPT.exec(stored);
  if (!m) throw new AuthError('AUTH_SCHEME_DATA', 'not a valid MD5-crypt string');
  return safeEqual(md5Crypt(plain, m[1]!), stored);
}

/** {MD5-CRYPT}: `$1$salt$hash`; a bare `$1$...` password is this scheme too (see splitScheme). */
export const md5CryptScheme: SchemeDescriptor = {
  name: 'MD5-CRYPT',
  encoding: 'none',
  verify: verifyMd5Crypt,
  generate: (plain) => md5Crypt(plain, randomSalt(SALT_LEN)),
};

/** Dovecot's deprecated {MD5}: MD5-crypt if the value starts with `$1$`, else PLAIN-MD5. */
export const md5Scheme: SchemeDescriptor = {
  name: 'MD5',
  encoding: 'none',
  verify: (plain, stored, user) =>
    stored.startsWith(MAGIC) ? verifyMd5Crypt(plain, stored) : plainMd5Scheme.verify(plain, stored, user),
  generate: md5CryptScheme.generate,
};
