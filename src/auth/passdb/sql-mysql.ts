import { readFileSync } from 'node:fs';
import type { FieldPacket, Pool, PoolOptions } from 'mysql2/promise';
import type { AuthLogger } from '../deps.js';
import { errorText, HostRotation, toText, type HostFailure, type SqlBackend, type SqlOutcome, type SqlRows } from './sql-backend.js';
import type { SqlHost, SqlServerTarget } from './sql-connect.js';
import type { BuiltQuery } from './sql-query.js';

/*
 * MySQL and MariaDB through mysql2, one small pool per host, created at the first
 * lookup. Bound queries are server-side prepared statements (the values never enter
 * the SQL text); escaped ones go as plain text queries.
 */

type MysqlModule = typeof import('mysql2/promise');

function sortError(err: unknown): HostFailure {
  const e = err as { fatal?: unknown; sqlState?: unknown; code?: unknown };
  const reason = errorText(err);
  // mysql2 marks errors that broke the connection (refused, lost, handshake, auth) as fatal.
  if (e.fatal === true || typeof e.sqlState !== 'string') return { connection: true, reason };
  return { connection: false, reason, ...(typeof e.code === 'string' ? { code: e.code } : {}) };
}

function poolOptions(t: SqlServerTarget, host: SqlHost): PoolOptions {
  const tls = t.tls;
  return {
    ...(host.host.startsWith('/') ? { socketPath: host.host } : { host: host.host, port: host.port }),
    ...(t.database !== undefined ? { database: t.database } : {}),
    ...(t.user !== undefined ? { user: t.user } : {}),
    ...(t.password !== undefined ? { password: t.password.reveal() } : {}),
    connectionLimit: t.maxConns,
    maxIdle: t.maxConns,
    idleTimeout: 60_000,
    connectTimeout: t.connectTimeoutMs,
    enableKeepAlive: true,
    // Text as libmysqlclient gives it to Dovecot: no Date objects, no rounded big numbers.
    dateStrings: true,
    supportBigNumbers: true,
    bigNumberStrings: true,
    multipleStatements: false,
    ...(tls === undefined
      ? {}
      : {
          ssl: {
            rejectUnauthorized: tls.verify,
            ...(tls.verify && !tls.verifyName ? { checkServerIdentity: () => undefined } : {}),
            ...(tls.caFile !== undefined ? { ca: readFileSync(tls.caFile) } : {}),
            ...(tls.certFile !== undefined ? { cert: readFileSync(tls.certFile) } : {}),
            ...(tls.keyFile !== undefined ? { key: readFileSync(tls.keyFile) } : {}),
            ...(tls.ciphers !== undefined ? { ciphers: tls.ciphers } : {}),
          },
        }),
  };
}

export function mysqlBackend(target: SqlServerTarget, log: AuthLogger): SqlBackend {
  let lib: Promise<MysqlModule> | undefined;
  let closed = false;
  let rotation: HostRotation<Pool> | undefined;

  const rotationFor = (mysql: MysqlModule): HostRotation<Pool> =>
    (rotation ??= new HostRotation(target.hosts, (host) => mysql.createPool(poolOptions(target, host)), log));

  return {
    async run(q: BuiltQuery): Promise<SqlOutcome> {
      if (closed) return { ok: false, reason: 'passdb closed' };
      let mysql: MysqlModule;
      try {
        mysql = await (lib ??= import('mysql2/promise').then((m) => (m.default ?? m) as MysqlModule));
      } catch (err) {
        lib = undefined;
        return { ok: false, reason: `cannot load mysql2: ${errorText(err)}` };
      }
      return rotationFor(mysql).run(async (pool) => {
        const opts = { sql: q.sql, rowsAsArray: true, timeout: target.queryTimeoutMs };
        // Escaped queries differ per user: as text, they do not fill the prepared-statement cache.
        const [rows, fields] = q.params.length > 0 ? await pool.execute(opts, q.params) : await pool.query(opts);
        return toRows(rows, fields);
      }, sortError);
    },
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await Promise.allSettled((rotation?.created() ?? []).map((p) => p.end()));
    },
  };
}

function toRows(rows: unknown, fields: FieldPacket[] | undefined): SqlRows {
  // A statement without a result set (UPDATE, CALL without SELECT) answers with no fields.
  if (!Array.isArray(rows) || fields === undefined) return { columns: [], rows: [] };
  return { columns: fields.map((f) => f.name), rows: (rows as unknown[][]).map((row) => row.map(toText)) };
}
