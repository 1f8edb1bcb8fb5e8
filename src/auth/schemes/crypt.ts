import { AuthError } from '../errors.js';
import { generateBcrypt, isBcrypt, verifyBcrypt } from './blf-crypt.js';
import type { SchemeDescriptor } from './descriptor.js';
import { generateShaCrypt, isShaCrypt, verifyShaCrypt } from './sha-crypt.js';

/**
 * Dovecot verifies CRYPT, SHA256-CRYPT and SHA512-CRYPT alike with crypt(3), which
 * picks the algorithm from the string's prefix: {SHA512-CRYPT}$5$... verifies too.
 * We implement the prefixes in use today; DES and MD5-crypt are reported, not guessed.
 */
export async function verifyCrypt(plain: string, stored: string): Promise<boolean> {
  if (stored === '') return false; // crypt("") would "match" an empty hash; Dovecot refuses
  if (isShaCrypt(stored)) return verifyShaCrypt(plain, stored);
  if (isBcrypt(stored)) return verifyBcrypt(plain, stored);
  if (stored.startsWith('$1$')) throw new AuthError('AUTH_SCHEME_DATA', 'MD5-crypt ($1$) is not supported yet');
  throw new AuthError('AUTH_SCHEME_DATA', 'unsupported crypt format (DES-crypt or unknown prefix)');
}

/** {CRYPT}: whatever crypt(3) format the string has; new hashes are bcrypt, as Dovecot. */
export const cryptScheme: SchemeDescriptor = {
  name: 'CRYPT',
  encoding: 'none',
  verify: verifyCrypt,
  generate: (plain) => generateBcrypt(plain),
};

export const sha256CryptScheme: SchemeDescriptor = {
  name: 'SHA256-CRYPT',
  encoding: 'none',
  verify: verifyCrypt,
  generate: (plain) => generateShaCrypt(plain, '5'),
};

export const sha512CryptScheme: SchemeDescriptor = {
  name: 'SHA512-CRYPT',
  encoding: 'none',
  verify: verifyCrypt,
  generate: (plain) => generateShaCrypt(plain, '6'),
};
