import type { LimitsConfig } from './config.js';

/** The three connection limits, as the `limit_reached` log line names them. */
export type LimitName = 'userip' | 'address' | 'total';

/** What is counted. Plain data, so a cluster counter can send it to the primary as it is. */
export type CountKey =
  | { limit: 'total' }
  | { limit: 'address'; ip: string }
  /** Per protocol, as Dovecot's anvil counts `imap/ip/user` and `pop3/ip/user` apart. */
  | { limit: 'userip'; protocol: 'imap' | 'pop3'; user: string; ip: string };

export interface CountRequest {
  key: CountKey;
  /** The count may reach this, not pass it. */
  max: number;
}

/** One held place under every key it was granted for. */
export interface Lease {
  /** Gives the places back; a second call does nothing. */
  release(): void;
}

export type Acquired = { kind: 'granted'; lease: Lease } | { kind: 'refused'; key: CountKey; max: number };

/**
 * Counts open connections. `acquire` is all or nothing: every key is below its max and each
 * gets one more, or nothing changes and the first key at its max is named. Callers always
 * await it, so an implementation may answer at once (in process) or after a round trip (the
 * primary of a node:cluster holding the counts for its workers).
 */
export interface ConnectionCounter {
  acquire(requests: readonly CountRequest[]): Acquired | Promise<Acquired>;
}

/** One string per key, for maps (in process, or in a cluster primary). */
export function countKeyString(key: CountKey): string {
  switch (key.limit) {
    case 'total':
      return 'total';
    case 'address':
      return `address\0${key.ip}`;
    case 'userip':
      return `userip\0${key.protocol}\0${key.ip}\0${key.user}`;
    default: {
      const never: never = key;
      throw new Error(`unknown count key ${JSON.stringify(never)}`);
    }
  }
}

const NO_LEASE: Lease = { release() {} };

/** A lease whose `give` runs at its first release only. */
export function leaseOnce(give: () => void): Lease {
  let held = true;
  return {
    release: () => {
      if (!held) return;
      held = false;
      give();
    },
  };
}

/** The counts of one process: a Map, entries removed at zero so it never grows with past clients. */
export class InProcessCounter implements ConnectionCounter {
  readonly #counts = new Map<string, number>();

  acquire(requests: readonly CountRequest[]): Acquired {
    const names = requests.map((r) => countKeyString(r.key));
    for (let i = 0; i < requests.length; i++) {
      const r = requests[i]!;
      if ((this.#counts.get(names[i]!) ?? 0) >= r.max) return { kind: 'refused', key: r.key, max: r.max };
    }
    if (names.length === 0) return { kind: 'granted', lease: NO_LEASE };
    for (const n of names) this.#counts.set(n, (this.#counts.get(n) ?? 0) + 1);
    return {
      kind: 'granted',
      lease: leaseOnce(() => {
        for (const n of names) {
          const left = (this.#counts.get(n) ?? 0) - 1;
          if (left > 0) this.#counts.set(n, left);
          else this.#counts.delete(n);
        }
      }),
    };
  }

  /** The current count of one key (tests, metrics). */
  count(key: CountKey): number {
    return this.#counts.get(countKeyString(key)) ?? 0;
  }
}

/**
 * The configured limits over a counter. A reload builds a new one from the new `limits:`
 * section over the same counter: new connections see the new limits, counts go on.
 */
export class ConnectionLimits {
  readonly counter: ConnectionCounter;
  readonly config: LimitsConfig;

  constructor(counter: ConnectionCounter, config: LimitsConfig) {
    this.counter = counter;
    this.config = config;
  }

  /** At accept: the total, and the client's address unless it is exempt (login_trusted_networks). */
  admit(ip: string, exempt: boolean): Acquired | Promise<Acquired> {
    const wants: CountRequest[] = [];
    if (this.config.max_connections > 0) wants.push({ key: { limit: 'total' }, max: this.config.max_connections });
    if (!exempt && this.config.max_connections_per_address > 0) wants.push({ key: { limit: 'address', ip }, max: this.config.max_connections_per_address });
    return this.counter.acquire(wants);
  }

  /** After the passdb said yes, before the backend connect: the user's sessions from this address. */
  login(protocol: 'imap' | 'pop3', user: string, ip: string, exempt: boolean): Acquired | Promise<Acquired> {
    const max = this.config.max_userip_connections;
    if (exempt || max === 0) return { kind: 'granted', lease: NO_LEASE };
    return this.counter.acquire([{ key: { limit: 'userip', protocol, user, ip }, max }]);
  }
}
