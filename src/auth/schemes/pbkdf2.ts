import { pbkdf2 } from 'node:crypto';
import { promisify } from 'node:util';
import { AuthError } from '../errors.js';
import { decodeHex, randomSalt, safeEqual } from './bytes.js';
import type { GenerateParams, SchemeDescriptor } from './descriptor.js';
import { MAX_PBKDF2_ROUNDS } from './limits.js';

const pbkdf2Async = promisify(pbkdf2);

const KEY_LEN = 20; // PBKDF2-HMAC-SHA1, one block
const SALT_LEN = 16;
const DEFAULT_ROUNDS = 5000;
// $1$salt$rounds$hex, as Dovecot's password-scheme-pbkdf2.c; the salt is used as text.
const PBKDF2 = /^\$1\$([^$]*)\$(\d{1,10})\$([^$]*)$/;

function checkRounds(rounds: number): void {
  if (rounds < 1 || rounds > MAX_PBKDF2_ROUNDS) {
    throw new AuthError('AUTH_SCHEME_DATA', `PBKDF2 rounds ${rounds} outside 1..${MAX_PBKDF2_ROUNDS}`);
  }
}

/** Runs in libuv's thread pool, so even the maximum rounds leave the event loop free. */
function derive(plain: string, salt: string, rounds: number): Promise<Buffer> {
  return pbkdf2Async(Buffer.from(plain, 'utf8'), Buffer.from(salt, 'utf8'), rounds, KEY_LEN, 'sha1');
}

export async function verifyPbkdf2(plain: string, stored: string): Promise<boolean> {
  const m = PBKDF2.exec(stored);
  if (!m) throw new AuthError('AUTH_SCHEME_DATA', 'Invalid PBKDF2 passdb entry format');
  const rounds = Number(m[2]);
  checkRounds(rounds);
  const want = m[3]!.length === KEY_LEN * 2 ? decodeHex(m[3]!) : undefined;
  if (!want) throw new AuthError('AUTH_SCHEME_DATA', 'PBKDF2 hash not 160bit hex-encoded');
  return safeEqual(await derive(plain, m[1]!, rounds), want);
}

export async function generatePbkdf2(plain: string, params?: GenerateParams): Promise<string> {
  const rounds = params?.rounds || DEFAULT_ROUNDS;
  checkRounds(rounds);
  const salt = randomSalt(SALT_LEN);
  return `$1$${salt}$${rounds}$${(await derive(plain, salt, rounds)).toString('hex')}`;
}

/** {PBKDF2}: PBKDF2-HMAC-SHA1, 20 bytes, stored `$1$salt$rounds$hex`. */
export const pbkdf2Scheme: SchemeDescriptor = {
  name: 'PBKDF2',
  encoding: 'none',
  slow: true,
  verify: verifyPbkdf2,
  generate: (plain, _user, params) => generatePbkdf2(plain, params),
};
