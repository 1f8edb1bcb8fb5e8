import type { Database, Statement } from 'better-sqlite3';
import type { AuthLogger } from '../deps.js';
import { errorText, toText, type SqlBackend, type SqlOutcome } from './sql-backend.js';
import type { BuiltQuery } from './sql-query.js';

/*
 * SQLite through better-sqlite3: the file is opened read-only at the first lookup and
 * again after any error (a replaced or repaired file is picked up). Queries run
 * synchronously, as Dovecot's own sqlite driver does; a local file answers in
 * microseconds, and a locked one waits at most BUSY_TIMEOUT_MS.
 */

type SqliteModule = typeof import('better-sqlite3');

/** Dovecot's sqlite_busy_timeout. */
const BUSY_TIMEOUT_MS = 1000;
/** Bound queries are fixed text: one prepared statement each. */
const MAX_CACHED_STATEMENTS = 16;
const MAX_ROWS_READ = 2;

export function sqliteBackend(path: string, log: AuthLogger): SqlBackend {
  let lib: SqliteModule | undefined;
  let db: Database | undefined;
  const statements = new Map<string, Statement>();
  let closed = false;

  const reset = (): void => {
    statements.clear();
    try {
      db?.close();
    } catch {
      // already unusable
    }
    db = undefined;
  };

  const prepare = (conn: Database, q: BuiltQuery): Statement => {
    const cacheable = q.params.length > 0;
    let stmt = cacheable ? statements.get(q.sql) : undefined;
    if (stmt === undefined) {
      stmt = conn.prepare(q.sql);
      stmt.raw(true).safeIntegers(true);
      if (cacheable && statements.size < MAX_CACHED_STATEMENTS) statements.set(q.sql, stmt);
    }
    return stmt;
  };

  return {
    async run(q: BuiltQuery): Promise<SqlOutcome> {
      if (closed) return { ok: false, reason: 'passdb closed' };
      try {
        lib ??= ((await import('better-sqlite3')) as unknown as { default: SqliteModule }).default;
      } catch (err) {
        return { ok: false, reason: `cannot load better-sqlite3: ${errorText(err)}` };
      }
      try {
        if (db === undefined) {
          db = new lib(path, { readonly: true, fileMustExist: true, timeout: BUSY_TIMEOUT_MS });
          log.debug({ path }, 'sql: sqlite file opened');
        }
        const stmt = prepare(db, q);
        if (!stmt.reader) return { ok: false, reason: `${path}: the query returns no data` };
        const columns = stmt.columns().map((c) => c.name);
        // Two rows tell "one" from "several"; the rest is never read.
        const rows: Array<Array<string | null>> = [];
        for (const row of stmt.iterate(...q.params) as IterableIterator<unknown[]>) {
          rows.push(row.map(toText));
          if (rows.length >= MAX_ROWS_READ) break;
        }
        return { ok: true, rows: { columns, rows } };
      } catch (err) {
        reset();
        const code = (err as { code?: unknown }).code;
        return { ok: false, reason: `${path}: ${errorText(err)}`, ...(typeof code === 'string' ? { code } : {}) };
      }
    },
    async close(): Promise<void> {
      closed = true;
      reset();
    },
  };
}
