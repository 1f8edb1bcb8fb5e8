import bcrypt from 'bcryptjs';
import { AuthError } from '../errors.js';
import { safeEqual } from './bytes.js';
import type { SchemeDescriptor } from './descriptor.js';

/** Dovecot's default cost for BLF-CRYPT. */
const DEFAULT_COST = 5;
/**
 * Each step doubles the work; cost 31 would run for days. Real hashes use 5..14,
 * so a stored cost above this is treated as bad data rather than computed.
 */
export const MAX_BCRYPT_COST = 20;

// $2a$, $2b$ or $2y$ (Dovecot writes $2y$), two-digit cost, 22 salt + 31 digest chars.
const BCRYPT = /^\$2[aby]\$(\d{2})\$[./A-Za-z0-9]{53}$/;

export function isBcrypt(stored: string): boolean {
  return /^\$2[a-z]\$/.test(stored);
}

export async function verifyBcrypt(plain: string, stored: string): Promise<boolean> {
  const m = BCRYPT.exec(stored);
  if (!m) throw new AuthError('AUTH_SCHEME_DATA', 'not a valid bcrypt string');
  const cost = Number(m[1]);
  if (cost < 4 || cost > MAX_BCRYPT_COST) {
    throw new AuthError('AUTH_SCHEME_DATA', `bcrypt cost ${cost} outside 4..${MAX_BCRYPT_COST}`);
  }
  // bcryptjs keeps the minor letter of the salt, so the result is comparable as a string.
  const computed = await bcrypt.hash(plain, stored.slice(0, 29));
  return safeEqual(computed, stored);
}

export async function generateBcrypt(plain: string, cost = DEFAULT_COST): Promise<string> {
  const salt = await bcrypt.genSalt(cost);
  return bcrypt.hash(plain, salt.replace(/^\$2[ab]\$/, '$2y$'));
}

/** {BLF-CRYPT}: bcrypt only; Dovecot rejects other crypt strings under this name. */
export const blfCryptScheme: SchemeDescriptor = {
  name: 'BLF-CRYPT',
  encoding: 'none',
  verify: (plain, stored) => verifyBcrypt(plain, stored),
  generate: (plain) => generateBcrypt(plain),
};
