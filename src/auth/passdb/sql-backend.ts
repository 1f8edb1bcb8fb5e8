import type { AuthLogger } from '../deps.js';
import type { SqlHost } from './sql-connect.js';
import type { BuiltQuery } from './sql-query.js';

/*
 * What the sql passdb asks of a database client: run one query, get text columns.
 * Values arrive as Dovecot sees them (libpq/libmysqlclient/sqlite3 text): numbers as
 * decimal text, NULL as null.
 */

export interface SqlRows {
  columns: string[];
  rows: Array<Array<string | null>>;
}

export type SqlOutcome =
  | { ok: true; rows: SqlRows }
  /** `code` is the SQLSTATE (or driver code) when the server answered with an error. */
  | { ok: false; reason: string; code?: string };

export interface SqlBackend {
  /** One query; `params` empty when the values were escaped into the text. */
  run(query: BuiltQuery): Promise<SqlOutcome>;
  /** Ends the pools; idempotent. */
  close(): Promise<void>;
}

/** A driver's failure, sorted: `connection` ones move on to the next host. */
export interface HostFailure {
  connection: boolean;
  reason: string;
  code?: string;
}

/** libpq/mysql text of a value the JS driver decoded. */
export function toText(v: unknown): string | null {
  if (v === null || v === undefined) return null;
  if (typeof v === 'string') return v;
  if (Buffer.isBuffer(v)) return v.toString('utf8');
  if (v instanceof Date) return v.toISOString();
  return String(v);
}

export function errorText(err: unknown): string {
  const e = err as { message?: unknown; code?: unknown; errors?: unknown };
  // A refused dual-stack connect (localhost: ::1 and 127.0.0.1) is an AggregateError without a message.
  if (e?.message === '' && Array.isArray(e.errors) && e.errors.length > 0) return e.errors.map(errorText).join('; ');
  const msg = typeof e?.message === 'string' && e.message !== '' ? e.message : String(err);
  return typeof e?.code === 'string' && !msg.includes(e.code) ? `${msg} (${e.code})` : msg;
}

/**
 * Servers tried in order, as failover: the last one that answered is tried first, a
 * connection failure moves on to the next, an SQL error is the answer. The pools
 * reconnect by themselves, so a host that was down is tried again on a later lookup.
 */
export class HostRotation<P> {
  #current = 0;
  readonly #pools: Array<P | undefined>;

  constructor(
    readonly hosts: readonly SqlHost[],
    private readonly makePool: (host: SqlHost) => P,
    private readonly log: AuthLogger,
  ) {
    this.#pools = hosts.map(() => undefined);
  }

  async run(attempt: (pool: P, host: SqlHost) => Promise<SqlRows>, sort: (err: unknown) => HostFailure): Promise<SqlOutcome> {
    const n = this.hosts.length;
    let last = 'no host';
    for (let k = 0; k < n; k++) {
      const i = (this.#current + k) % n;
      const host = this.hosts[i]!;
      try {
        const pool = (this.#pools[i] ??= this.makePool(host));
        const rows = await attempt(pool, host);
        this.#current = i;
        return { ok: true, rows };
      } catch (err) {
        const f = sort(err);
        if (!f.connection) return { ok: false, reason: `${host.label}: ${f.reason}`, ...(f.code ? { code: f.code } : {}) };
        last = `${host.label}: ${f.reason}`;
        if (k < n - 1) this.log.warn({ host: host.label }, `sql: ${last}; trying the next host`);
      }
    }
    return { ok: false, reason: n > 1 ? `no host reachable (last: ${last})` : last };
  }

  /** The pools created so far, for close(). */
  created(): P[] {
    return this.#pools.filter((p): p is P => p !== undefined);
  }
}
