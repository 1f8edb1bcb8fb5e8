import { createHash, createHmac, pbkdf2, randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import { AuthError } from '../errors.js';
import { decodeBase64, safeEqual } from './bytes.js';
import type { GenerateParams, SchemeDescriptor } from './descriptor.js';
import { MAX_SCRAM_ITERATIONS, MIN_SCRAM_ITERATIONS } from './limits.js';

const pbkdf2Async = promisify(pbkdf2);

export type ScramHash = 'sha1' | 'sha256';

/** What the SCRAM mechanism needs from the passdb (RFC 5802 §3): never the password. */
export interface ScramCredentials {
  readonly iterations: number;
  readonly salt: Buffer;
  readonly storedKey: Buffer;
  readonly serverKey: Buffer;
}

const SALT_LEN = 16;
const DEFAULT_ITERATIONS = 4096; // Dovecot's SCRAM_DEFAULT_ITERATE_COUNT
const DIGEST_LEN: Record<ScramHash, number> = { sha1: 20, sha256: 32 };

/** SaltedPassword = Hi(password, salt, i), which is PBKDF2 with dkLen = hLen; in the thread pool. */
export function saltedPassword(hash: ScramHash, plain: string, salt: Uint8Array, iterations: number): Promise<Buffer> {
  return pbkdf2Async(Buffer.from(plain, 'utf8'), salt, iterations, DIGEST_LEN[hash], hash);
}

export async function scramCredentials(hash: ScramHash, plain: string, salt: Buffer, iterations: number): Promise<ScramCredentials> {
  const salted = await saltedPassword(hash, plain, salt, iterations);
  const clientKey = createHmac(hash, salted).update('Client Key').digest();
  return {
    iterations,
    salt,
    storedKey: createHash(hash).update(clientKey).digest(),
    serverKey: createHmac(hash, salted).update('Server Key').digest(),
  };
}

function checkIterations(name: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < MIN_SCRAM_ITERATIONS || n > MAX_SCRAM_ITERATIONS) {
    throw new AuthError('AUTH_SCHEME_DATA', `${name} iteration count ${n} outside ${MIN_SCRAM_ITERATIONS}..${MAX_SCRAM_ITERATIONS}`);
  }
}

/** Parses Dovecot's stored form `iter,salt,storedkey,serverkey` (base64 fields). */
export function parseScram(hash: ScramHash, stored: string): ScramCredentials {
  const name = hash === 'sha1' ? 'SCRAM-SHA-1' : 'SCRAM-SHA-256';
  const fields = stored.split(',');
  if (fields.length !== 4) throw new AuthError('AUTH_SCHEME_DATA', `Invalid ${name} passdb entry format`);
  const [iterText, saltText, storedText, serverText] = fields as [string, string, string, string];
  if (!/^\d{1,10}$/.test(iterText)) throw new AuthError('AUTH_SCHEME_DATA', `Invalid ${name} iteration count in passdb`);
  const iterations = Number(iterText);
  checkIterations(name, iterations);
  const salt = decodeBase64(saltText);
  if (!salt) throw new AuthError('AUTH_SCHEME_DATA', `Invalid ${name} salt in passdb`);
  const len = DIGEST_LEN[hash];
  const storedKey = decodeBase64(storedText);
  if (storedKey?.length !== len) throw new AuthError('AUTH_SCHEME_DATA', `Invalid ${name} StoredKey in passdb`);
  const serverKey = decodeBase64(serverText);
  if (serverKey?.length !== len) throw new AuthError('AUTH_SCHEME_DATA', `Invalid ${name} ServerKey in passdb`);
  return { iterations, salt, storedKey, serverKey };
}

export function formatScram(c: ScramCredentials): string {
  return [String(c.iterations), c.salt.toString('base64'), c.storedKey.toString('base64'), c.serverKey.toString('base64')].join(',');
}

/**
 * A plaintext check recomputes StoredKey, as Dovecot's scram_verify (ServerKey only
 * matters to the SASL exchange). Dovecot always writes 4096 iterations and ignores
 * `-r`; postern honours `-r` since the format carries the count.
 */
function scramScheme(name: string, hash: ScramHash): SchemeDescriptor {
  return {
    name,
    encoding: 'none',
    async verify(plain, stored) {
      const c = parseScram(hash, stored);
      const mine = await scramCredentials(hash, plain, c.salt, c.iterations);
      return safeEqual(mine.storedKey, c.storedKey);
    },
    async generate(plain: string, _user: string, params?: GenerateParams) {
      const iterations = params?.rounds || DEFAULT_ITERATIONS;
      checkIterations(name, iterations);
      return formatScram(await scramCredentials(hash, plain, randomBytes(SALT_LEN), iterations));
    },
  };
}

export const scramSha1Scheme = scramScheme('SCRAM-SHA-1', 'sha1');
export const scramSha256Scheme = scramScheme('SCRAM-SHA-256', 'sha256');
