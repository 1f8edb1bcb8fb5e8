import type { Fields } from './types.js';

/*
 * Dovecot's auth cache (auth-cache.c): passdb answers kept in memory, least recently
 * used first out, bounded in bytes (auth_cache_size), each positive answer good for
 * auth_cache_ttl and each "unknown user" for auth_cache_negative_ttl. Never plaintext:
 * an entry holds what the passdb returned (a hash) or a salted hash of a password a
 * self-checking driver accepted.
 */

/** What one cache entry remembers of a passdb's answer. */
export type CachedAnswer =
  | {
      kind: 'found';
      /** A rename by the passdb (`user=`), as PassdbResult has it. */
      user?: string;
      /** `{SCHEME}hash`, or null for a passdb with no password (nopassword, proxy). */
      password: string | null;
      fields: Fields;
      /**
       * The driver checks passwords itself (imap, ldap auth_bind); `password` is then a
       * salted hash of the last password it accepted, made by the cache.
       */
      selfChecked: boolean;
    }
  | { kind: 'userUnknown' };

export interface AuthCacheOptions {
  /** auth_cache_size in bytes, counted roughly as Dovecot does (keys, values, a fixed overhead). */
  maxBytes: number;
  /** auth_cache_ttl. */
  ttlMs: number;
  /** auth_cache_negative_ttl; 0 keeps no "unknown user" entries. */
  negativeTtlMs: number;
  /** Injected in tests. */
  now?: () => number;
}

export interface AuthCacheStats {
  entries: number;
  bytes: number;
  maxBytes: number;
  hits: number;
  misses: number;
}

interface Entry {
  answer: CachedAnswer;
  /** The login name the entry was made for, so one user's entries can be flushed. */
  loginUser: string;
  created: number;
  bytes: number;
}

/** Bookkeeping per entry beyond its strings: map slot, objects, timestamps. */
const ENTRY_OVERHEAD_BYTES = 128;

const copy = (a: CachedAnswer): CachedAnswer => (a.kind === 'found' ? { ...a, fields: { ...a.fields } } : a);

function answerBytes(a: CachedAnswer): number {
  if (a.kind !== 'found') return 0;
  let n = (a.user?.length ?? 0) + (a.password?.length ?? 0);
  for (const [k, v] of Object.entries(a.fields)) n += k.length + v.length;
  return n;
}

/** One cache for every passdb of a process (keys carry the passdb's id). */
export class AuthCache {
  readonly #opts: Required<AuthCacheOptions>;
  /** Insertion order is recency: the first key is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  #bytes = 0;
  #hits = 0;
  #misses = 0;

  constructor(opts: AuthCacheOptions) {
    this.#opts = { now: Date.now, ...opts };
  }

  get enabled(): boolean {
    return this.#opts.maxBytes > 0 && this.#opts.ttlMs > 0;
  }

  /** The answer under `key`, unless missing or past its TTL (an expired entry is dropped). */
  get(key: string): CachedAnswer | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) {
      this.#misses++;
      return undefined;
    }
    const ttl = e.answer.kind === 'userUnknown' ? this.#opts.negativeTtlMs : this.#opts.ttlMs;
    if (this.#opts.now() - e.created >= ttl) {
      this.#remove(key, e);
      this.#misses++;
      return undefined;
    }
    this.#entries.delete(key);
    this.#entries.set(key, e);
    this.#hits++;
    return copy(e.answer);
  }

  /** Stores an answer, evicting the least recently used entries to stay within the size. */
  set(key: string, loginUser: string, answer: CachedAnswer): void {
    if (!this.enabled) return;
    const old = this.#entries.get(key);
    if (old !== undefined) this.#remove(key, old);
    if (answer.kind === 'userUnknown' && this.#opts.negativeTtlMs <= 0) return;
    const bytes = ENTRY_OVERHEAD_BYTES + key.length + loginUser.length + answerBytes(answer);
    // An entry bigger than the whole cache (a 300 KB user name) is simply not kept.
    if (bytes > this.#opts.maxBytes) return;
    for (const [k, e] of this.#entries) {
      if (this.#bytes + bytes <= this.#opts.maxBytes) break;
      this.#remove(k, e);
    }
    this.#entries.set(key, { answer: copy(answer), loginUser, created: this.#opts.now(), bytes });
    this.#bytes += bytes;
  }

  delete(key: string): void {
    const e = this.#entries.get(key);
    if (e !== undefined) this.#remove(key, e);
  }

  /** Drops every entry, or those made for the given login names; returns how many went. */
  flush(users?: readonly string[]): number {
    if (users === undefined) {
      const n = this.#entries.size;
      this.#entries.clear();
      this.#bytes = 0;
      return n;
    }
    const wanted = new Set(users);
    let n = 0;
    for (const [k, e] of this.#entries) {
      if (!wanted.has(e.loginUser)) continue;
      this.#remove(k, e);
      n++;
    }
    return n;
  }

  stats(): AuthCacheStats {
    return { entries: this.#entries.size, bytes: this.#bytes, maxBytes: this.#opts.maxBytes, hits: this.#hits, misses: this.#misses };
  }

  #remove(key: string, e: Entry): void {
    this.#entries.delete(key);
    this.#bytes -= e.bytes;
  }
}
