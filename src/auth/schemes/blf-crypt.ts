import { AuthError } from '../errors.js';
import { safeEqual } from './bytes.js';
import type { GenerateParams, SchemeDescriptor } from './descriptor.js';
import { MAX_BCRYPT_COST } from './limits.js';

/** Loaded at the first bcrypt hash: most configurations have none. */
let bcryptjs: Promise<typeof import('bcryptjs')> | undefined;
const bcrypt = async () => (await (bcryptjs ??= import('bcryptjs'))).default;

/** Dovecot's default and minimum cost for BLF-CRYPT. */
const DEFAULT_COST = 5;
const MIN_COST = 4;

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
  const computed = await (await bcrypt()).hash(plain, stored.slice(0, 29));
  return safeEqual(computed, stored);
}

/** `-r` as Dovecot reads it: 0 is the default, below 4 is raised to 4; above our cap is refused. */
export function bcryptCost(params?: GenerateParams): number {
  const r = params?.rounds ?? 0;
  if (r > MAX_BCRYPT_COST) throw new AuthError('AUTH_SCHEME_DATA', `bcrypt cost ${r} above the limit of ${MAX_BCRYPT_COST}`);
  return r === 0 ? DEFAULT_COST : Math.max(r, MIN_COST);
}

export async function generateBcrypt(plain: string, cost = DEFAULT_COST): Promise<string> {
  const b = await bcrypt();
  const salt = await b.genSalt(cost);
  return b.hash(plain, salt.replace(/^\$2[ab]\$/, '$2y$'));
}

/** {BLF-CRYPT}: bcrypt only; Dovecot rejects other crypt strings under this name. */
export const blfCryptScheme: SchemeDescriptor = {
  name: 'BLF-CRYPT',
  encoding: 'none',
  slow: true,
  verify: (plain, stored) => verifyBcrypt(plain, stored),
  generate: (plain, _user, params) => generateBcrypt(plain, bcryptCost(params)),
};
