import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { AuthError } from '../errors.js';
import { readDovecotConf, type ConfReader } from './dovecot-conf-file.js';

/*
 * The sql passdb's settings, with Dovecot 2.3's names and defaults (db-sql.c
 * default_db_sql_settings). One schema checks the inline YAML `sql:` object and the
 * keys of a dovecot-sql.conf.ext file. No I/O here: files are read through `read`.
 */

export const SQL_DRIVERS = ['sqlite', 'pgsql', 'mysql'] as const;
export type SqlDriverName = (typeof SQL_DRIVERS)[number];

export const DEFAULT_PASSWORD_QUERY = "SELECT username, domain, password FROM users WHERE username = '%n' AND domain = '%d'";
/** Dovecot's default for the sql passdb: MD5, its alias of MD5-CRYPT. */
export const DEFAULT_SQL_PASS_SCHEME = 'MD5';

export const sqlSettingsSchema = z
  .object({
    driver: z.enum(SQL_DRIVERS).describe('Database: sqlite (a file), pgsql (PostgreSQL) or mysql (MySQL, MariaDB).'),
    connect: z
      .string()
      .min(1)
      .describe(
        'Dovecot connect string. sqlite: the file path. pgsql: "host=db1 host=db2 dbname=mail user=postern password=… port=5432" (libpq keywords). ' +
          'mysql: "host=db1 host=/run/mysqld/mysqld.sock dbname=mail user=postern password=… port=3306". Several host= fail over in order; maxconns=N sizes the pool (5).',
      ),
    password_query: z
      .string()
      .min(1)
      .default(DEFAULT_PASSWORD_QUERY)
      .describe("The query; each column becomes a field, `password` is checked. %variables inside '…' are sent as bind parameters, others escaped."),
    default_pass_scheme: z.string().min(1).default(DEFAULT_SQL_PASS_SCHEME).describe('Scheme of password values without a {SCHEME} prefix.'),
  })
  .strict();

export type SqlSettingsInput = z.input<typeof sqlSettingsSchema>;
export type SqlSettings = z.output<typeof sqlSettingsSchema>;

/** Keys a dovecot-sql.conf.ext may hold that a passdb does not use (userdb and updates). */
const UNUSED_FILE_KEYS: ReadonlySet<string> = new Set(['user_query', 'update_query', 'iterate_query', 'userdb_warning_disable']);

/** The settings of a dovecot-sql.conf.ext, read as Dovecot does. Throws AuthError. */
export function sqlSettingsFromFile(
  path: string,
  read: ConfReader,
  env?: Readonly<Record<string, string | undefined>>,
): SqlSettings {
  const conf = readDovecotConf(path, read, env === undefined ? {} : { env });
  const input: Record<string, string> = {};
  for (const [key, { value, where }] of conf) {
    if (UNUSED_FILE_KEYS.has(key)) continue;
    // Dovecot's parse_setting_from_defs: an unknown key fails the whole file.
    if (!(key in sqlSettingsSchema.shape)) throw new AuthError('AUTH_CONFIG', `${where}: unknown setting ${key}`);
    input[key] = value;
  }
  if (input['driver'] === undefined) throw new AuthError('AUTH_CONFIG', `sql: driver not set in configuration file ${path}`);
  if (input['connect'] === undefined) throw new AuthError('AUTH_CONFIG', `sql: connect string not set in configuration file ${path}`);
  const r = sqlSettingsSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    const where = conf.get(key)?.where ?? path;
    throw new AuthError('AUTH_CONFIG', `${where}: ${key}: ${issue.message}`);
  }
  return r.data;
}

/** What the sql driver needs of a passdb spec. */
export interface SqlSpec {
  args: string;
  sql?: SqlSettings | undefined;
}

/**
 * The settings of one sql passdb: the inline `sql:` object, or the file `args` names
 * (relative paths resolved against `baseDir`, the config file's folder).
 */
export function resolveSqlSettings(spec: SqlSpec, read: ConfReader, baseDir?: string): SqlSettings {
  const path = spec.args.trim();
  if (spec.sql !== undefined) {
    if (path !== '') throw new AuthError('AUTH_CONFIG', 'passdb sql: give either sql: settings or args naming a dovecot-sql.conf.ext, not both');
    return spec.sql;
  }
  if (path === '') throw new AuthError('AUTH_CONFIG', 'passdb sql: needs sql: settings or args naming a dovecot-sql.conf.ext');
  if (!isAbsolute(path) && baseDir === undefined) throw new AuthError('AUTH_CONFIG', `passdb sql: path ${path} is not absolute`);
  return sqlSettingsFromFile(isAbsolute(path) ? path : resolve(baseDir!, path), read);
}
