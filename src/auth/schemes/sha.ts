import { createHash } from 'node:crypto';
import { safeEqual } from './bytes.js';
import type { SchemeDescriptor } from './descriptor.js';
import { decodeDigest } from './plain-md5.js';

/**
 * Unsalted digests stored base64 (Dovecot's SHA, SHA1, SHA256, SHA512). A value of
 * exactly twice the digest length is read as hex, as Dovecot guesses it.
 */
function digestScheme(name: string, algorithm: string, rawLength: number, aliases?: string[]): SchemeDescriptor {
  const digest = (plain: string) => createHash(algorithm).update(plain, 'utf8').digest();
  return {
    name,
    ...(aliases ? { aliases } : {}),
    encoding: 'base64',
    rawLength,
    verify: (plain, stored) => safeEqual(digest(plain), decodeDigest(stored, rawLength)),
    generate: (plain) => digest(plain).toString('base64'),
  };
}

/** {SHA}: SHA-1, as in OpenLDAP's userPassword. */
export const shaScheme = digestScheme('SHA', 'sha1', 20, ['SHA1']);
export const sha256Scheme = digestScheme('SHA256', 'sha256', 32);
export const sha512Scheme = digestScheme('SHA512', 'sha512', 64);
