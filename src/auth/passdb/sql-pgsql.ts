import { readFileSync } from 'node:fs';
import type { Pool, PoolConfig, QueryArrayResult } from 'pg';
import type { AuthLogger } from '../deps.js';
import { errorText, HostRotation, toText, type HostFailure, type SqlBackend, type SqlOutcome, type SqlRows } from './sql-backend.js';
import type { SqlServerTarget } from './sql-connect.js';
import type { BuiltQuery } from './sql-query.js';

/*
 * PostgreSQL through node-postgres, one small pool per host, created at the first
 * lookup. Values come back as the server's text, as libpq gives them to Dovecot.
 */

type PgModule = typeof import('pg');

// Every type as text: no Date, number or boolean decoding.
const TEXT_TYPES = { getTypeParser: () => (v: string) => v };

/** SQLSTATE classes where another server may do better: connection, auth, resources, shutdown, no database. */
const CONNECTION_STATES = /^(08|28|53|57|3D)/;

function sortError(err: unknown): HostFailure {
  const code = (err as { code?: unknown }).code;
  const sqlstate = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
  const reason = errorText(err);
  // Network errors carry an errno name (ECONNREFUSED) or none (timeouts).
  return sqlstate === undefined || CONNECTION_STATES.test(sqlstate) ? { connection: true, reason } : { connection: false, reason, code: sqlstate };
}

function poolConfig(t: SqlServerTarget, host: SqlServerTarget['hosts'][number]): PoolConfig {
  const tls = t.tls;
  return {
    host: host.host,
    ...(host.port !== undefined ? { port: host.port } : {}),
    ...(t.database !== undefined ? { database: t.database } : {}),
    ...(t.user !== undefined ? { user: t.user } : {}),
    ...(t.password !== undefined ? { password: t.password.reveal() } : {}),
    ...(t.applicationName !== undefined ? { application_name: t.applicationName } : {}),
    ...(t.pgOptions !== undefined ? { options: t.pgOptions } : {}),
    max: t.maxConns,
    connectionTimeoutMillis: t.connectTimeoutMs,
    query_timeout: t.queryTimeoutMs,
    idleTimeoutMillis: 60_000,
    types: TEXT_TYPES,
    ssl:
      tls === undefined
        ? false
        : {
            rejectUnauthorized: tls.verify,
            ...(tls.verify && !tls.verifyName ? { checkServerIdentity: () => undefined } : {}),
            ...(tls.caFile !== undefined ? { ca: readFileSync(tls.caFile) } : {}),
            ...(tls.certFile !== undefined ? { cert: readFileSync(tls.certFile) } : {}),
            ...(tls.keyFile !== undefined ? { key: readFileSync(tls.keyFile) } : {}),
          },
  };
}

export function pgsqlBackend(target: SqlServerTarget, log: AuthLogger): SqlBackend {
  let lib: Promise<PgModule> | undefined;
  let closed = false;
  let rotation: HostRotation<Pool> | undefined;

  const rotationFor = (pg: PgModule): HostRotation<Pool> =>
    (rotation ??= new HostRotation(
      target.hosts,
      (host) => {
        const pool = new pg.Pool(poolConfig(target, host));
        // An idle connection dropped by the server must not crash the process.
        pool.on('error', (err) => log.warn({ host: host.label }, `sql: pgsql idle connection lost: ${errorText(err)}`));
        return pool;
      },
      log,
    ));

  return {
    async run(q: BuiltQuery): Promise<SqlOutcome> {
      if (closed) return { ok: false, reason: 'passdb closed' };
      let pg: PgModule;
      try {
        pg = await (lib ??= import('pg').then((m) => (m.default ?? m) as PgModule));
      } catch (err) {
        lib = undefined;
        return { ok: false, reason: `cannot load pg: ${errorText(err)}` };
      }
      return rotationFor(pg).run(async (pool) => {
        const r = (await pool.query({ text: q.sql, values: q.params, rowMode: 'array' })) as QueryArrayResult | QueryArrayResult[];
        // Several statements (simple protocol): libpq's PQexec answers with the last.
        const last = Array.isArray(r) ? r[r.length - 1] : r;
        return toRows(last);
      }, sortError);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.allSettled((rotation?.created() ?? []).map((p) => p.end()));
    },
  };
}

function toRows(r: QueryArrayResult | undefined): SqlRows {
  if (r === undefined || !Array.isArray(r.fields)) return { columns: [], rows: [] };
  return { columns: r.fields.map((f) => f.name), rows: r.rows.map((row) => row.map(toText)) };
}
