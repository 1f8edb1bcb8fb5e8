import { AuthError } from '../errors.js';
import { verifyPool } from './pool.js';
import type { PasswordScheme } from '../types.js';
import { argon2idScheme, argon2iScheme } from './argon2.js';
import { decodeBase64, decodeHex } from './bytes.js';
import { blfCryptScheme } from './blf-crypt.js';
import { cramMd5Scheme } from './cram-md5.js';
import { cryptScheme, desCryptScheme, sha256CryptScheme, sha512CryptScheme } from './crypt.js';
import type { GenerateParams, SchemeDescriptor, SchemeEncoding } from './descriptor.js';
import { md5CryptScheme, md5Scheme } from './md5-crypt.js';
import { pbkdf2Scheme } from './pbkdf2.js';
import { ldapMd5Scheme, plainMd5Scheme } from './plain-md5.js';
import { plainScheme } from './plain.js';
import { smd5Scheme, ssha256Scheme, ssha512Scheme, sshaScheme } from './salted.js';
import { scramSha1Scheme, scramSha256Scheme } from './scram.js';
import { sha256Scheme, sha512Scheme, shaScheme } from './sha.js';

/** Adding a scheme: a new file exporting a SchemeDescriptor, and one line here. */
const SCHEMES: readonly SchemeDescriptor[] = [
  plainScheme,
  plainMd5Scheme,
  ldapMd5Scheme,
  md5CryptScheme,
  md5Scheme,
  shaScheme,
  sha256Scheme,
  sha512Scheme,
  smd5Scheme,
  sshaScheme,
  ssha256Scheme,
  ssha512Scheme,
  cryptScheme,
  desCryptScheme,
  sha256CryptScheme,
  sha512CryptScheme,
  blfCryptScheme,
  argon2iScheme,
  argon2idScheme,
  pbkdf2Scheme,
  cramMd5Scheme,
  scramSha1Scheme,
  scramSha256Scheme,
];

// Dovecot looks scheme names up case-insensitively.
const byName = new Map<string, SchemeDescriptor>();
for (const s of SCHEMES) {
  for (const n of [s.name, ...(s.aliases ?? [])]) byName.set(n.toUpperCase(), s);
}

interface Resolved {
  scheme: SchemeDescriptor;
  /** Set when the name carried `.hex`, `.b64` or `.base64`. */
  suffix?: Exclude<SchemeEncoding, 'none'>;
}

function resolve(name: string): Resolved | undefined {
  const dot = name.indexOf('.');
  const scheme = byName.get((dot < 0 ? name : name.slice(0, dot)).toUpperCase());
  if (!scheme) return undefined;
  if (dot < 0) return { scheme };
  const enc = name.slice(dot + 1).toLowerCase();
  if (enc === 'hex') return { scheme, suffix: 'hex' };
  if (enc === 'b64' || enc === 'base64') return { scheme, suffix: 'base64' };
  return undefined; // unknown encoding: Dovecot treats the whole name as unknown
}

/** The scheme for a name such as `SHA512-CRYPT`, `plain` or `PLAIN-MD5.b64`. */
export function getScheme(name: string): PasswordScheme | undefined {
  const r = resolve(name);
  if (!r) return undefined;
  if (!r.suffix) return r.scheme;
  const { scheme, suffix } = r;
  return {
    name: `${scheme.name}.${suffix === 'hex' ? 'HEX' : 'B64'}`,
    verify: (plain, stored, user) => verifyEncoded(scheme, suffix, plain, stored, user),
    generate: async (plain, user) => encode(scheme, suffix, await scheme.generate(plain, user)),
  };
}

/** Every name getScheme accepts (without suffixes), sorted. */
export function listSchemes(): string[] {
  return [...byName.keys()].sort();
}

/**
 * Splits `{SCHEME}value`. As Dovecot's password_get_scheme: no `}` means no scheme,
 * and a bare `$1$salt$hash` is MD5-CRYPT whatever the default (a further `$...` is dropped).
 */
export function splitScheme(stored: string): { scheme?: string; value: string } {
  const md5 = /^\$1\$[^$]*\$[^$]*/.exec(stored);
  if (md5) return { scheme: 'MD5-CRYPT', value: md5[0] };
  if (!stored.startsWith('{')) return { value: stored };
  const end = stored.indexOf('}');
  if (end < 0) return { value: stored };
  return { scheme: stored.slice(1, end), value: stored.slice(end + 1) };
}

/** Puts `{defaultScheme}` in front of a password that names no scheme of its own. */
export function withDefaultScheme(stored: string, defaultScheme: string): string {
  return splitScheme(stored).scheme === undefined ? `{${defaultScheme}}${stored}` : stored;
}

export type VerifyResult = { ok: boolean } | { error: string };

/**
 * Checks `plain` against a stored password with an optional `{SCHEME}` prefix.
 * Unknown schemes and malformed data are errors, not mismatches, so the caller can
 * tell a wrong password from a broken passdb. Never throws.
 */
export async function verifyPassword(
  plain: string,
  stored: string,
  defaultScheme: string,
  user: string,
): Promise<VerifyResult> {
  const { scheme = defaultScheme, value } = splitScheme(stored);
  // A work-factor scheme takes milliseconds of CPU: in a worker thread, every other session goes on meanwhile.
  if (resolve(scheme)?.scheme.slow === true) return verifyPool().verify({ plain, stored, defaultScheme, user });
  return verifyWith(getScheme(scheme), scheme, value, plain, user);
}

/** verifyPassword on this thread (the verify pool's threads run this). */
export async function verifyHere(plain: string, stored: string, defaultScheme: string, user: string): Promise<VerifyResult> {
  const { scheme = defaultScheme, value } = splitScheme(stored);
  return verifyWith(getScheme(scheme), scheme, value, plain, user);
}

async function verifyWith(s: PasswordScheme | undefined, scheme: string, value: string, plain: string, user: string): Promise<VerifyResult> {
  if (!s) return { error: `unknown password scheme ${scheme}` };
  try {
    return { ok: (await s.verify(plain, value, user)) === true };
  } catch (err) {
    return { error: `invalid ${scheme} password data: ${(err as Error).message}` };
  }
}

/**
 * A new hash for `scheme`, without the `{SCHEME}` prefix (as PasswordScheme.generate).
 * `params.rounds` is `doveadm pw -r`; schemes without a work factor ignore it.
 */
export async function hashPassword(scheme: string, plain: string, user: string, params?: GenerateParams): Promise<string> {
  const r = resolve(scheme);
  if (!r) throw new AuthError('AUTH_UNKNOWN_SCHEME', `unknown password scheme ${scheme}`);
  const value = await r.scheme.generate(plain, user, params);
  return r.suffix ? encode(r.scheme, r.suffix, value) : value;
}

function decodeWith(suffix: 'hex' | 'base64', value: string): Buffer {
  const raw = suffix === 'hex' ? decodeHex(value) : decodeBase64(value);
  if (!raw) throw new AuthError('AUTH_SCHEME_DATA', `input isn't valid ${suffix === 'hex' ? 'HEX' : 'base64'} encoded data`);
  return raw;
}

// A binary scheme is handed the bytes re-encoded in its default encoding; a text
// scheme is handed the decoded text.
async function verifyEncoded(
  scheme: SchemeDescriptor,
  suffix: 'hex' | 'base64',
  plain: string,
  stored: string,
  user: string,
): Promise<boolean> {
  const raw = decodeWith(suffix, stored);
  if (scheme.encoding !== 'none') return scheme.verify(plain, raw.toString(scheme.encoding), user);
  const text = raw.toString('utf8');
  // Bytes that are not UTF-8 cannot equal a UTF-8 password; don't let U+FFFD stand in.
  if (!Buffer.from(text, 'utf8').equals(raw)) return false;
  return scheme.verify(plain, text, user);
}

function encode(scheme: SchemeDescriptor, suffix: 'hex' | 'base64', canonical: string): string {
  const raw = Buffer.from(canonical, scheme.encoding === 'none' ? 'utf8' : scheme.encoding);
  return raw.toString(suffix);
}
