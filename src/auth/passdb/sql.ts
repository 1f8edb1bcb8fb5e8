import { readFileSync } from 'node:fs';
import { silentLogger, type AuthLogger } from '../deps.js';
import { AuthError } from '../errors.js';
import { setField } from '../fields.js';
import { getScheme, withDefaultScheme } from '../schemes/registry.js';
import type { AuthRequest, Fields, Passdb, PassdbResult } from '../types.js';
import { varContextFromRequest } from '../vars.js';
import { passdbLabel, type PassdbDriver } from './descriptor.js';
import { mergeAbilities, proxyMechValue, storedScheme } from './abilities.js';
import type { PassdbSpec } from '../config.js';
import type { AuthDeps } from '../deps.js';
import type { PassdbAbilities } from '../types.js';
import type { SqlBackend, SqlRows } from './sql-backend.js';
import { describeTarget, parseConnect, type SqlTarget } from './sql-connect.js';
import { mysqlBackend } from './sql-mysql.js';
import { pgsqlBackend } from './sql-pgsql.js';
import { bindValues, compileQuery, escapeValues, pgsqlUnquotedUser, type BuildResult, type CompiledQuery } from './sql-query.js';
import { resolveSqlSettings } from './sql-settings.js';
import { sqliteBackend } from './sql-sqlite.js';

/*
 * Dovecot's sql passdb (passdb-sql.c): one query per lookup; no row is an unknown
 * user; one row gives the fields, one per column, NULL ones skipped, `password`
 * checked by the authenticator with default_pass_scheme for bare hashes; more than
 * one row, a query without a `password` column, or a database that cannot answer is
 * an internal failure (tempFail), never "wrong password" or "unknown user".
 */

/** SQLSTATE indeterminate_datatype: PostgreSQL could not type a bind parameter. */
const PG_INDETERMINATE_DATATYPE = '42P18';
/** How much of a login name goes into a log line. */
const LOG_USER_CHARS = 128;

export const sqlDriver: PassdbDriver = {
  driver: 'sql',
  description: 'Dovecot sql: SQLite, PostgreSQL or MySQL/MariaDB; sql: {driver, connect, password_query, default_pass_scheme} or args naming a dovecot-sql.conf.ext.',
  create(spec, deps): Passdb {
    const settings = resolveSqlSettings(spec, readConfFile, deps.baseDir);
    const target = parseConnect(settings.driver, settings.connect, deps.baseDir);
    const query = compileQuery(settings.password_query, settings.driver);
    const scheme = settings.default_pass_scheme;
    const log = (deps.log ?? silentLogger).child({ passdb: 'sql', db: describeTarget(target) });
    warnAboutQuery(query, scheme, log);
    const backend = makeBackend(target, log);
    // PostgreSQL older than 10 cannot type `SELECT $1`; such a query is then escaped.
    let escapeOnly = false;

    const build = (req: AuthRequest): BuildResult => {
      const ctx = varContextFromRequest(req);
      return query.bound !== undefined && !escapeOnly ? bindValues({ ...query, bound: query.bound }, ctx) : escapeValues(query, ctx);
    };

    return {
      name: passdbLabel(spec, describeTarget(target)),
      cacheKey: settings.password_query,
      async lookup(req: AuthRequest): Promise<PassdbResult> {
        const user = req.user.slice(0, LOG_USER_CHARS);
        let built = build(req);
        if ('refused' in built) {
          log.info({ user }, `sql: ${built.refused}; no query sent`);
          return { kind: 'userUnknown' };
        }
        let out = await backend.run(built);
        if (!out.ok && out.code === PG_INDETERMINATE_DATATYPE && built.params.length > 0) {
          escapeOnly = true;
          log.warn({}, 'sql: the server cannot type bind parameters in this query; escaping values from now on');
          built = build(req);
          if ('refused' in built) return { kind: 'userUnknown' };
          out = await backend.run(built);
        }
        if (!out.ok) {
          const reason = scrub(out.reason, req);
          log.error({ user }, `sql: password query failed: ${reason}`);
          return { kind: 'tempFail', reason: `sql: password query failed: ${reason}` };
        }
        const r = rowsToResult(out.rows, scheme, log);
        if (r.kind === 'tempFail') log.error({ user }, r.reason);
        return r;
      },
      close: () => backend.close(),
    };
  },
  abilities: sqlAbilities,
};

/**
 * One answer as passdb-sql.c sql_query_callback reads it. `password_noscheme` is
 * Dovecot's column for values that may start with `{` yet have no scheme.
 */
export function rowsToResult(r: SqlRows, defaultScheme: string, log: AuthLogger = silentLogger): PassdbResult {
  if (r.rows.length === 0) return { kind: 'userUnknown' };
  if (!r.columns.includes('password') && !r.columns.includes('password_noscheme')) {
    return { kind: 'tempFail', reason: "sql: password query must return a field named 'password'" };
  }
  if (r.rows.length > 1) return { kind: 'tempFail', reason: 'sql: password query returned multiple matches' };
  const row = r.rows[0]!;
  const fields: Fields = {};
  let password: string | null = null;
  r.columns.forEach((name, i) => {
    const value = row[i];
    if (name === '' || value === null || value === undefined) return;
    if (name !== 'password' && name !== 'password_noscheme') {
      setField(fields, name, value);
    } else if (password !== null) {
      log.error({}, 'sql: multiple password values not supported; the first one is kept');
    } else {
      password = name === 'password' ? withDefaultScheme(value, defaultScheme) : `{${defaultScheme}}${value}`;
    }
  });
  return { kind: 'found', password, fields };
}

function makeBackend(t: SqlTarget, log: AuthLogger): SqlBackend {
  switch (t.driver) {
    case 'sqlite':
      return sqliteBackend(t.path, log);
    case 'pgsql':
      return pgsqlBackend(t, log);
    case 'mysql':
      return mysqlBackend(t, log);
  }
}

function warnAboutQuery(q: CompiledQuery, scheme: string, log: AuthLogger): void {
  if (!getScheme(scheme)) log.warn({ scheme }, 'sql: default_pass_scheme is not a known scheme; bare password hashes cannot be verified');
  if (q.unquotedVars) {
    log.warn({}, "sql: password_query has a %variable outside quotes; only values of letters, digits and _.@ can pass there. Write '%u'.");
  }
  if (pgsqlUnquotedUser(q)) {
    log.warn({}, 'sql: password_query says user without quotes, which PostgreSQL reads as CURRENT_USER (the database login), not a column; write "user"');
  }
}

/** A database message may quote a value of the query; %w would be the password. */
function scrub(reason: string, req: AuthRequest): string {
  const pw = req.password?.reveal();
  return pw !== undefined && pw.length >= 3 ? reason.replaceAll(pw, '***') : reason;
}

function readConfFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    throw new AuthError('AUTH_CONFIG', `cannot read ${path}: ${code ?? (err as Error).message}`);
  }
}

/** default_pass_scheme stands for the column's hashes; a proxy_mech column may forward tokens. */
function sqlAbilities(spec: PassdbSpec, deps: AuthDeps): PassdbAbilities {
  const settings = resolveSqlSettings(spec, readConfFile, deps.baseDir);
  return mergeAbilities([{ schemes: [storedScheme('', settings.default_pass_scheme)], proxyMechs: /\bproxy_mech\b/i.test(settings.password_query) ? [proxyMechValue('%')] : [] }]);
}
