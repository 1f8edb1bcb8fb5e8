import { createHmac, randomBytes } from 'node:crypto';
import { decodeBase64, decodeHex } from './schemes/bytes.js';
import { decodeCramMd5 } from './schemes/cram-md5.js';
import { getScheme, hashPassword, splitScheme } from './schemes/registry.js';
import { formatScram, scramCredentials } from './schemes/scram.js';

export type Conversion = { ok: true; value: string } | { ok: false; unavailable: string } | { ok: false; error: string };

/** `PLAIN-MD5.B64` → ['PLAIN-MD5', 'B64']: the canonical name and suffix getScheme resolved. */
function canonical(name: string): { base: string; suffix?: string } | undefined {
  const s = getScheme(name);
  if (!s) return undefined;
  const dot = s.name.indexOf('.');
  return dot < 0 ? { base: s.name } : { base: s.name.slice(0, dot), suffix: s.name.slice(dot + 1) };
}

function decodeSuffix(value: string, suffix: string | undefined): Buffer | undefined {
  if (suffix === undefined) return Buffer.from(value, 'utf8');
  return suffix === 'HEX' ? decodeHex(value) : decodeBase64(value);
}

/**
 * A stored password in the scheme a mechanism asks for, as Dovecot's passdb_handle_credentials:
 * a plaintext password produces any scheme (SCRAM with a fresh salt); a hash only its own
 * scheme (re-encoded from `.b64`/`.hex`). Anything else is "scheme not available", which
 * fails the login like a wrong password. `stored` carries `{SCHEME}` (bare means PLAIN).
 */
export async function credentialsInScheme(stored: string, wanted: string, user: string): Promise<Conversion> {
  const { scheme = 'PLAIN', value } = splitScheme(stored);
  const have = canonical(scheme);
  const want = canonical(wanted);
  if (!have) return { ok: false, error: `unknown password scheme ${scheme}` };
  if (!want) return { ok: false, error: `unknown password scheme ${wanted}` };
  const raw = decodeSuffix(value, have.suffix);
  if (raw === undefined) return { ok: false, error: `invalid ${scheme} password data` };
  if (have.base === 'PLAIN') {
    const plain = raw.toString('utf8');
    return { ok: true, value: await hashPassword(wanted, plain, user) };
  }
  if (have.base !== want.base || want.suffix !== undefined) {
    return { ok: false, unavailable: `requested ${wanted} scheme, but we have only ${scheme}` };
  }
  try {
    // The canonical form the mechanisms parse: CRAM-MD5 as hex, SCRAM as its text.
    if (want.base === 'CRAM-MD5') return { ok: true, value: decodeCramMd5(have.suffix === undefined ? value : raw.toString('hex')).toString('hex') };
    return { ok: true, value: raw.toString('utf8') };
  } catch (err) {
    return { ok: false, error: `invalid ${scheme} password data: ${(err as Error).message}` };
  }
}

/** Per-process key for credentials that stand in for unknown users. */
const FAKE_KEY = randomBytes(32);

/**
 * Credentials for a user the chain does not know, so that SCRAM answers client-first the
 * same way for everyone and fails only at the end (RFC 5802 §5.1 leaves this to the server;
 * Dovecot fails at once, which tells a prober the user does not exist). The salt is stable per
 * user name, as a real one is.
 */
export async function fakeCredentials(scheme: string, user: string): Promise<string | undefined> {
  const hash = scheme === 'SCRAM-SHA-1' ? 'sha1' : scheme === 'SCRAM-SHA-256' ? 'sha256' : undefined;
  if (hash === undefined) return undefined;
  const salt = createHmac('sha256', FAKE_KEY).update(`salt\0${user}`).digest().subarray(0, 16);
  return formatScram(await scramCredentials(hash, randomBytes(16).toString('hex'), salt, 4096));
}
