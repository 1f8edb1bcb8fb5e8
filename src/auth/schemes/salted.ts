import { createHash, randomBytes } from 'node:crypto';
import { AuthError } from '../errors.js';
import { decodeBase64, safeEqual } from './bytes.js';
import type { SchemeDescriptor } from './descriptor.js';

/** Dovecot's generators append 4 random bytes; verification takes any salt length. */
const SALT_LEN = 4;

/**
 * Salted digests, base64 of `H(password + salt) + salt` (OpenLDAP's {SSHA} family).
 * Dovecot reads these as base64 only unless a `.hex` suffix says otherwise.
 */
function saltedScheme(name: string, algorithm: string, digestLength: number): SchemeDescriptor {
  const digest = (plain: string, salt: Uint8Array) => createHash(algorithm).update(plain, 'utf8').update(salt).digest();
  return {
    name,
    encoding: 'base64',
    verify(plain, stored) {
      const raw = decodeBase64(stored);
      if (raw === undefined) throw new AuthError('AUTH_SCHEME_DATA', "Input isn't valid base64 encoded data");
      if (raw.length <= digestLength) throw new AuthError('AUTH_SCHEME_DATA', `${name} password is too short`);
      return safeEqual(digest(plain, raw.subarray(digestLength)), raw.subarray(0, digestLength));
    },
    generate(plain) {
      const salt = randomBytes(SALT_LEN);
      return Buffer.concat([digest(plain, salt), salt]).toString('base64');
    },
  };
}

export const smd5Scheme = saltedScheme('SMD5', 'md5', 16);
export const sshaScheme = saltedScheme('SSHA', 'sha1', 20);
export const ssha256Scheme = saltedScheme('SSHA256', 'sha256', 32);
export const ssha512Scheme = saltedScheme('SSHA512', 'sha512', 64);
