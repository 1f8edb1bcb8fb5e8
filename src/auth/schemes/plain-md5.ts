import { createHash } from 'node:crypto';
import { AuthError } from '../errors.js';
import { decodeBase64, decodeHex, safeEqual } from './bytes.js';
import type { SchemeDescriptor } from './descriptor.js';

const MD5_LEN = 16;

/**
 * Dovecot guesses the encoding of binary schemes: exactly twice the digest length
 * is hex (falling back to base64 if it is not valid hex), anything else is base64.
 */
export function decodeDigest(stored: string, rawLength: number): Buffer {
  let raw = stored.length === rawLength * 2 ? decodeHex(stored) : undefined;
  raw ??= decodeBase64(stored);
  if (raw === undefined) throw new AuthError('AUTH_SCHEME_DATA', "Input isn't valid hex or base64 encoded data");
  if (raw.length !== rawLength) {
    throw new AuthError('AUTH_SCHEME_DATA', `Input length isn't valid (${raw.length} instead of ${rawLength})`);
  }
  return raw;
}

/** {PLAIN-MD5}: unsalted MD5, stored as hex (Dovecot's default) or base64. */
export const plainMd5Scheme: SchemeDescriptor = {
  name: 'PLAIN-MD5',
  encoding: 'hex',
  rawLength: MD5_LEN,
  verify(plain, stored) {
    const want = decodeDigest(stored, MD5_LEN);
    return safeEqual(createHash('md5').update(plain, 'utf8').digest(), want);
  },
  generate: (plain) => createHash('md5').update(plain, 'utf8').digest('hex'),
};

/** {LDAP-MD5}: PLAIN-MD5 stored base64, as OpenLDAP's userPassword `{MD5}` does. */
export const ldapMd5Scheme: SchemeDescriptor = {
  ...plainMd5Scheme,
  name: 'LDAP-MD5',
  encoding: 'base64',
  generate: (plain) => createHash('md5').update(plain, 'utf8').digest('base64'),
};
