import { randomBytes } from 'node:crypto';
import { AuthError } from '../errors.js';
import { decodeBase64, safeEqual } from './bytes.js';
import type { GenerateParams, SchemeDescriptor } from './descriptor.js';
import { MAX_ARGON2_MEMORY_KIB, MAX_ARGON2_PARALLELISM, MAX_ARGON2_TIME_COST } from './limits.js';

type Variant = 'argon2i' | 'argon2id';

/** Loaded at the first Argon2 hash: most configurations have none. */
let hashWasm: Promise<typeof import('hash-wasm')> | undefined;

interface Argon2Params {
  variant: Variant;
  memoryKiB: number;
  timeCost: number;
  parallelism: number;
  salt: Buffer;
  hash: Buffer;
}

// The PHC string libsodium writes: $argon2id$v=19$m=65536,t=3,p=1$salt$hash (unpadded base64).
const PHC = /^\$(argon2id?)\$v=(\d+)\$m=(\d{1,10}),t=(\d{1,10}),p=(\d{1,3})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;
const VERSION = 19; // 0x13; hash-wasm computes no other
const SALT_LEN = 16;
const HASH_LEN = 32;

function fail(message: string): never {
  throw new AuthError('AUTH_SCHEME_DATA', message);
}

function checkCost(memoryKiB: number, timeCost: number, parallelism: number): void {
  if (memoryKiB > MAX_ARGON2_MEMORY_KIB) fail(`argon2 memory ${memoryKiB} KiB above the limit of ${MAX_ARGON2_MEMORY_KIB}`);
  if (timeCost < 1 || timeCost > MAX_ARGON2_TIME_COST) fail(`argon2 time cost ${timeCost} outside 1..${MAX_ARGON2_TIME_COST}`);
  if (parallelism < 1 || parallelism > MAX_ARGON2_PARALLELISM) fail(`argon2 parallelism ${parallelism} outside 1..${MAX_ARGON2_PARALLELISM}`);
  if (memoryKiB < 8 * parallelism) fail(`argon2 memory ${memoryKiB} KiB below 8 per lane`);
}

export function parseArgon2(stored: string): Argon2Params {
  const m = PHC.exec(stored);
  if (!m) fail('not an argon2i or argon2id PHC string');
  if (Number(m[2]) !== VERSION) fail(`argon2 version ${m[2]} is not supported (only v=${VERSION})`);
  const [memoryKiB, timeCost, parallelism] = [Number(m[3]), Number(m[4]), Number(m[5])];
  checkCost(memoryKiB, timeCost, parallelism);
  const salt = decodeBase64(m[6]!);
  const hash = decodeBase64(m[7]!);
  if (!salt || salt.length < 8 || salt.length > 1024) fail('argon2 salt is not 8..1024 bytes of base64');
  if (!hash || hash.length < 4 || hash.length > 1024) fail('argon2 hash is not 4..1024 bytes of base64');
  return { variant: m[1] as Variant, memoryKiB, timeCost, parallelism, salt, hash };
}

/**
 * hash-wasm is WebAssembly on this thread: its promise resolves only after the whole
 * computation, so this blocks the event loop (about 0.3 s at Dovecot's ARGON2I default).
 */
async function compute(plain: string, p: Omit<Argon2Params, 'hash'>, hashLength: number): Promise<Uint8Array> {
  const options = {
    password: Buffer.from(plain, 'utf8'),
    salt: p.salt,
    iterations: p.timeCost,
    memorySize: p.memoryKiB,
    parallelism: p.parallelism,
    hashLength,
    outputType: 'binary',
  } as const;
  const { argon2i, argon2id } = await (hashWasm ??= import('hash-wasm'));
  return p.variant === 'argon2i' ? argon2i(options) : argon2id(options);
}

/**
 * As libsodium's crypto_pwhash_str_verify: either variant verifies under either name.
 * hash-wasm refuses an empty password, so one never matches here (Dovecot would
 * accept it against a hash of ''): a mismatch rather than an error, so that empty
 * logins are ordinary failures and not temporary ones.
 */
export async function verifyArgon2(plain: string, stored: string): Promise<boolean> {
  const p = parseArgon2(stored);
  if (plain === '') return false;
  return safeEqual(Buffer.from(await compute(plain, p, p.hash.length)), p.hash);
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64').replace(/=+$/, '');

/**
 * `-r` is libsodium's opslimit; the memory follows it in steps, as Dovecot's
 * password-scheme-sodium.c: interactive, moderate, sensitive.
 */
const PROFILES: Record<Variant, { ops: [number, number, number]; mem: [number, number, number]; minOps: number }> = {
  argon2i: { ops: [4, 6, 8], mem: [32 * 1024, 128 * 1024, 512 * 1024], minOps: 3 },
  argon2id: { ops: [2, 3, 4], mem: [64 * 1024, 256 * 1024, 1024 * 1024], minOps: 3 },
};

export async function generateArgon2(plain: string, variant: Variant, params?: GenerateParams): Promise<string> {
  if (plain === '') fail('argon2 of an empty password is not supported (hash-wasm refuses it)');
  const { ops, mem, minOps } = PROFILES[variant];
  let timeCost = params?.rounds || ops[0];
  const memoryKiB = timeCost >= ops[2] ? mem[2] : timeCost >= ops[1] ? mem[1] : mem[0];
  // Dovecot raises ARGON2ID below 3 (a libsodium 1.0.13 quirk); libsodium refuses ARGON2I below 3.
  if (variant === 'argon2id') timeCost = Math.max(timeCost, minOps);
  else if (timeCost < minOps) fail(`argon2i needs at least ${minOps} rounds`);
  checkCost(memoryKiB, timeCost, 1);
  const p = { variant, memoryKiB, timeCost, parallelism: 1, salt: randomBytes(SALT_LEN) };
  const hash = await compute(plain, p, HASH_LEN);
  return `$${variant}$v=${VERSION}$m=${memoryKiB},t=${timeCost},p=1$${b64(p.salt)}$${b64(hash)}`;
}

export const argon2iScheme: SchemeDescriptor = {
  name: 'ARGON2I',
  encoding: 'none',
  slow: true,
  verify: verifyArgon2,
  generate: (plain, _user, params) => generateArgon2(plain, 'argon2i', params),
};

export const argon2idScheme: SchemeDescriptor = {
  name: 'ARGON2ID',
  encoding: 'none',
  slow: true,
  verify: verifyArgon2,
  generate: (plain, _user, params) => generateArgon2(plain, 'argon2id', params),
};
