import { encrypt } from 'unixcrypt';
import { AuthError } from '../errors.js';
import { randomSalt, safeEqual } from './bytes.js';
import type { GenerateParams } from './descriptor.js';
import { MAX_SHA_CRYPT_ROUNDS } from './limits.js';

// unixcrypt allocates an array of `rounds` entries and runs synchronously, so a
// stored hash asking for glibc's maximum (999999999) would stall or kill the process.
const DEFAULT_ROUNDS = 5000;
const MIN_ROUNDS = 1000;
const SALT_LEN = 16;

// $5$ or $6$, optional rounds=N$, salt (no '$'), then the digest in crypt's base64.
const SHA_CRYPT = /^\$([56])\$(?:rounds=(\d{1,10})\$)?([^$]*)\$([./0-9A-Za-z]+)$/;

export function isShaCrypt(stored: string): boolean {
  return stored.startsWith('$5$') || stored.startsWith('$6$');
}

/** SHA-crypt (Drepper) verify: recompute with the stored salt and rounds, compare all of it. */
export function verifyShaCrypt(plain: string, stored: string): boolean {
  const m = SHA_CRYPT.exec(stored);
  if (!m) throw new AuthError('AUTH_SCHEME_DATA', 'not a valid SHA-crypt string');
  const [, id, rounds, salt] = m;
  if (rounds !== undefined && Number(rounds) > MAX_SHA_CRYPT_ROUNDS) {
    throw new AuthError('AUTH_SCHEME_DATA', `SHA-crypt rounds ${rounds} above the limit of ${MAX_SHA_CRYPT_ROUNDS}`);
  }
  const setting = `$${id}$${rounds !== undefined ? `rounds=${rounds}$` : ''}${salt}`;
  let computed: string;
  try {
    computed = encrypt(plain, setting);
  } catch (err) {
    throw new AuthError('AUTH_SCHEME_DATA', `invalid SHA-crypt salt: ${(err as Error).message}`, { cause: err });
  }
  return safeEqual(computed, stored);
}

/** `-r` as Dovecot reads it: 0 is the default, below 1000 is raised to 1000; above our cap is refused. */
export function shaCryptRounds(params?: GenerateParams): number {
  const r = params?.rounds ?? 0;
  if (r > MAX_SHA_CRYPT_ROUNDS) throw new AuthError('AUTH_SCHEME_DATA', `SHA-crypt rounds ${r} above the limit of ${MAX_SHA_CRYPT_ROUNDS}`);
  return r === 0 ? DEFAULT_ROUNDS : Math.max(r, MIN_ROUNDS);
}

/** As Dovecot: 16 salt characters, rounds shown only when not the default. */
export function generateShaCrypt(plain: string, id: '5' | '6', rounds = DEFAULT_ROUNDS): string {
  const r = rounds === DEFAULT_ROUNDS ? '' : `rounds=${rounds}$`;
  return encrypt(plain, `$${id}$${r}${randomSalt(SALT_LEN)}`);
}
