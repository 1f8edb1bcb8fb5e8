import { AuthError } from '../errors.js';
import { bcryptCost, generateBcrypt, isBcrypt, verifyBcrypt } from './blf-crypt.js';
import { generateDesCrypt, isDesCrypt, verifyDesCrypt } from './des-crypt.js';
import type { SchemeDescriptor } from './descriptor.js';
import { verifyMd5Crypt } from './md5-crypt.js';
import { generateShaCrypt, isShaCrypt, shaCryptRounds, verifyShaCrypt } from './sha-crypt.js';

/**
 * Dovecot verifies CRYPT, DES-CRYPT, SHA256-CRYPT and SHA512-CRYPT alike with crypt(3),
 * which picks the algorithm from the string's prefix: {SHA512-CRYPT}$5$... verifies too.
 * We implement `$1$`, `$5$`, `$6$`, `$2[aby]$` and 13-character DES; libxcrypt's other
 * formats (yescrypt `$y$`, scrypt `$7$`, `$sha1$`, BSDi `_`) are reported, not guessed.
 */
export async function verifyCrypt(plain: string, stored: string): Promise<boolean> {
  if (stored === '') return false; // crypt("") would "match" an empty hash; Dovecot refuses
  if (isShaCrypt(stored)) return verifyShaCrypt(plain, stored);
  if (isBcrypt(stored)) return verifyBcrypt(plain, stored);
  if (stored.startsWith('$1$')) return verifyMd5Crypt(plain, stored);
  if (isDesCrypt(stored)) return verifyDesCrypt(plain, stored);
  const prefix = /^\$[^$]*\$/.exec(stored)?.[0];
  throw new AuthError('AUTH_SCHEME_DATA', `unsupported crypt format${prefix ? ` ${prefix}` : ''}`);
}

/** {CRYPT}: whatever crypt(3) format the string has; new hashes are bcrypt, as Dovecot. */
export const cryptScheme: SchemeDescriptor = {
  name: 'CRYPT',
  encoding: 'none',
  slow: true,
  verify: verifyCrypt,
  generate: (plain, _user, params) => generateBcrypt(plain, bcryptCost(params)),
};

/** {DES-CRYPT}: new hashes are traditional DES (8 significant characters: avoid). */
export const desCryptScheme: SchemeDescriptor = {
  name: 'DES-CRYPT',
  encoding: 'none',
  verify: verifyCrypt,
  generate: (plain) => generateDesCrypt(plain),
};

export const sha256CryptScheme: SchemeDescriptor = {
  name: 'SHA256-CRYPT',
  encoding: 'none',
  slow: true,
  verify: verifyCrypt,
  generate: (plain, _user, params) => generateShaCrypt(plain, '5', shaCryptRounds(params)),
};

export const sha512CryptScheme: SchemeDescriptor = {
  name: 'SHA512-CRYPT',
  encoding: 'none',
  slow: true,
  verify: verifyCrypt,
  generate: (plain, _user, params) => generateShaCrypt(plain, '6', shaCryptRounds(params)),
};
