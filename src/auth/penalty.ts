import { isIP } from 'node:net';

/*
 * Dovecot's per-address auth penalty (auth-penalty.c, anvil/penalty.c), in process.
 *
 * Each failed login from an address raises its level by one, up to 4; the next request
 * from that address waits 2 s * 2^level before it is checked (4, 8, 15, 15 s: capped at
 * 15). A level is forgotten 15 s after its last raise, the record 29 s after its last
 * change. A failure repeating a user+password pair already counted for the address does
 * not raise it again (a phone retrying an old password), and a success resets it.
 */

export const PENALTY_INIT_MS = 2_000; // AUTH_PENALTY_INIT_SECS
export const PENALTY_MAX_MS = 15_000; // AUTH_PENALTY_MAX_SECS
export const PENALTY_MAX_LEVEL = 4; // AUTH_PENALTY_MAX_PENALTY
/** AUTH_PENALTY_TIMEOUT: 2 + 4 + 8 + 15 seconds. */
export const PENALTY_EXPIRE_MS = 29_000;
/** PENALTY_IPV6_MASK_BITS: one /48 is one address, so a v6 host cannot dodge with fresh addresses. */
export const PENALTY_IPV6_PREFIX_BITS = 48;
/** Checksums of counted user+password pairs kept per address (anvil's CHECKSUM_VALUE_PTR_COUNT). */
export const PENALTY_CHECKSUMS_KEPT = 10;
/** Addresses tracked at once; the least recently changed is dropped first. */
export const PENALTY_MAX_ADDRESSES = 100_000;

/** auth_penalty_to_secs in milliseconds: the wait for a level (0 for none). */
export function penaltyDelayMs(level: number): number {
  if (level <= 0) return 0;
  return Math.min(PENALTY_INIT_MS * 2 ** Math.min(level, 10), PENALTY_MAX_MS);
}

/** Dovecot's auth_penalty_to_secs, defined for level 0 too (2 s): the decay thresholds use it. */
function toMs(level: number): number {
  return Math.min(PENALTY_INIT_MS * 2 ** level, PENALTY_MAX_MS);
}

/** The address a penalty is kept under: IPv6 cut to its /48; '' when there is none. */
export function penaltyIdent(ip: string): string {
  const v4 = ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
  if (isIP(v4) === 4) return v4;
  if (isIP(v4) !== 6) return '';
  const groups = expandV6(v4);
  return `${groups.slice(0, PENALTY_IPV6_PREFIX_BITS / 16).join(':')}::/${PENALTY_IPV6_PREFIX_BITS}`;
}

function expandV6(ip: string): string[] {
  const noZone = ip.split('%')[0]!;
  const [head = '', tail] = noZone.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return groups.map((g) => (g.includes('.') ? g : Number.parseInt(g, 16).toString(16)));
}

interface Rec {
  level: number;
  /** When the level was last raised (Dovecot's last_penalty). */
  lastPenalty: number;
  /** When the record last changed: it expires PENALTY_EXPIRE_MS after. */
  lastUpdate: number;
  /** Most recent first. */
  checksums: string[];
}

export interface PenaltyTableOptions {
  now?: () => number;
  maxAddresses?: number;
}

/** The per-address levels, bounded, with time from an injected clock. */
export class PenaltyTable {
  readonly #now: () => number;
  readonly #max: number;
  /** Insertion order is the order of last change: the first record is the oldest. */
  readonly #recs = new Map<string, Rec>();

  constructor(opts: PenaltyTableOptions = {}) {
    this.#now = opts.now ?? Date.now;
    this.#max = Math.max(1, opts.maxAddresses ?? PENALTY_MAX_ADDRESSES);
  }

  get size(): number {
    return this.#recs.size;
  }

  /** The level that applies now (PENALTY-GET, decayed as auth_penalty_anvil_callback does). */
  level(ident: string): number {
    this.#expire();
    const rec = this.#recs.get(ident);
    if (rec === undefined) return 0;
    const elapsed = Math.max(0, this.#now() - Math.min(rec.lastPenalty, this.#now()));
    let level = rec.level;
    // Dovecot's loop: all of it goes once 15 s have passed since the last raise, none before.
    for (let drop = PENALTY_MAX_LEVEL; level > 0 && elapsed >= toMs(drop); drop--) level--;
    return level;
  }

  /**
   * A failure after a request that saw `seenLevel` (PENALTY-INC with value seen+1). With
   * a `checksum` already counted for this address, the level stays at `seenLevel`.
   */
  failed(ident: string, seenLevel: number, checksum?: string): void {
    this.#set(ident, Math.min(seenLevel + 1, PENALTY_MAX_LEVEL), checksum);
  }

  /** A success after a penalised request: back to level 0. */
  succeeded(ident: string): void {
    if (this.#recs.has(ident)) this.#set(ident, 0, undefined);
  }

  clear(): void {
    this.#recs.clear();
  }

  #set(ident: string, value: number, checksum: string | undefined): void {
    const now = this.#now();
    const rec = this.#recs.get(ident) ?? { level: 0, lastPenalty: now, lastUpdate: now, checksums: [] };
    this.#recs.delete(ident);
    const at = checksum === undefined ? -1 : rec.checksums.indexOf(checksum);
    if (checksum !== undefined && at >= 0) {
      // The same user and password again: not a new guess (penalty_bump_checksum).
      rec.checksums.splice(at, 1);
      rec.checksums.unshift(checksum);
      rec.level = Math.max(0, value - 1);
    } else {
      if (checksum !== undefined) rec.checksums = [checksum, ...rec.checksums].slice(0, PENALTY_CHECKSUMS_KEPT);
      rec.level = value;
      rec.lastPenalty = now;
    }
    rec.lastUpdate = now;
    this.#recs.set(ident, rec);
    this.#expire();
    while (this.#recs.size > this.#max) this.#recs.delete(this.#recs.keys().next().value!);
  }

  /** Drops records not changed for PENALTY_EXPIRE_MS (penalty_timeout), oldest first. */
  #expire(): void {
    const cutoff = this.#now() - PENALTY_EXPIRE_MS;
    for (const [ident, rec] of this.#recs) {
      if (rec.lastUpdate > cutoff) break;
      this.#recs.delete(ident);
    }
  }
}
