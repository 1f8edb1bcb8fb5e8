import { isAbsolute, resolve } from 'node:path';
import { Secret } from '../../core/index.js';
import { AuthError } from '../errors.js';
import type { SqlDriverName } from './sql-settings.js';

/*
 * Dovecot's connect strings, parsed without I/O. As lib-sql's sqlpool does, every
 * `host=` is one server (tried in order here: failover) and `maxconns=` sizes the
 * pool; the other keywords go to the driver: libpq's for pgsql, driver-mysql.c's for
 * mysql. sqlite's connect string is the file path.
 */

/** Dovecot's SQL_DEFAULT_CONNECTION_LIMIT. */
export const DEFAULT_MAX_CONNS = 5;
/** Dovecot's SQL_CONNECT_TIMEOUT_SECS. */
export const DEFAULT_CONNECT_TIMEOUT_S = 5;
/** driver-mysql.c's MYSQL_DEFAULT_READ_TIMEOUT_SECS; also the pgsql query limit. */
export const DEFAULT_QUERY_TIMEOUT_S = 30;

export interface TlsFiles {
  /** Check the server's certificate (and, for pgsql verify-full, its name). */
  verify: boolean;
  verifyName: boolean;
  caFile?: string;
  certFile?: string;
  keyFile?: string;
  ciphers?: string;
}

/** One server: a TCP host and port, or a unix socket (a path). */
export interface SqlHost {
  host: string;
  port?: number;
  /** `host:port` or the socket path, for logs. */
  label: string;
}

export interface SqlServerTarget {
  driver: 'pgsql' | 'mysql';
  hosts: SqlHost[];
  maxConns: number;
  database?: string;
  user?: string;
  password?: Secret;
  connectTimeoutMs: number;
  queryTimeoutMs: number;
  tls?: TlsFiles;
  /** pgsql only. */
  applicationName?: string;
  pgOptions?: string;
}

export type SqlTarget = { driver: 'sqlite'; path: string } | SqlServerTarget;

const fail = (msg: string): never => {
  throw new AuthError('AUTH_CONFIG', `passdb sql connect: ${msg}`);
};

function uint(key: string, v: string, max = 2 ** 31): number {
  if (!/^\d+$/.test(v) || Number(v) > max) fail(`invalid ${key} ${JSON.stringify(v)}`);
  return Number(v);
}

function port(v: string): number {
  const n = uint('port', v, 65535);
  if (n === 0) fail('port 0');
  return n;
}

/**
 * libpq's conninfo syntax: `key = value` pairs separated by blanks; a value may be
 * in single quotes, and a backslash escapes the next character. Keys may repeat.
 */
export function parseConninfo(s: string): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  let i = 0;
  const blank = (): void => {
    while (i < s.length && /\s/.test(s[i]!)) i++;
  };
  while (true) {
    blank();
    if (i >= s.length) return out;
    const start = i;
    while (i < s.length && s[i] !== '=' && !/\s/.test(s[i]!)) i++;
    const key = s.slice(start, i);
    blank();
    if (s[i] !== '=') fail(`missing "=" after ${JSON.stringify(key)}`);
    i++;
    blank();
    let value = '';
    if (s[i] === "'") {
      for (i++; ; i++) {
        if (i >= s.length) fail(`unterminated quoted value of ${key}`);
        if (s[i] === "'") break;
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i];
      }
      i++;
    } else {
      for (; i < s.length && !/\s/.test(s[i]!); i++) {
        if (s[i] === '\\' && i + 1 < s.length) i++;
        value += s[i];
      }
    }
    out.push([key, value]);
  }
}

/** driver-mysql.c (and sqlpool): blank-separated `key=value`, no quoting. */
function parseMysqlPairs(s: string): Array<[string, string]> {
  return s
    .split(/[ \t]+/)
    .filter((t) => t !== '')
    .map((t): [string, string] => {
      const eq = t.indexOf('=');
      if (eq < 0) fail(`missing value in connect string: ${t}`);
      return [t.slice(0, eq), t.slice(eq + 1)];
    });
}

const hostLabel = (host: string, p: number | undefined): string => (host.startsWith('/') ? host : `${host.includes(':') ? `[${host}]` : host}:${p}`);

/** Parses a connect string; relative sqlite paths are resolved against `baseDir`. */
export function parseConnect(driver: SqlDriverName, connect: string, baseDir?: string): SqlTarget {
  if (driver === 'sqlite') {
    const path = connect.trim();
    if (path === '' || path.includes('\0')) fail('sqlite needs a file path');
    if (isAbsolute(path)) return { driver, path };
    if (baseDir === undefined) fail(`sqlite path ${path} is not absolute`);
    return { driver, path: resolve(baseDir!, path) };
  }
  return driver === 'pgsql' ? parsePgsql(connect) : parseMysql(connect);
}

function serverTarget(driver: 'pgsql' | 'mysql'): SqlServerTarget {
  return {
    driver,
    hosts: [],
    maxConns: DEFAULT_MAX_CONNS,
    connectTimeoutMs: DEFAULT_CONNECT_TIMEOUT_S * 1000,
    queryTimeoutMs: DEFAULT_QUERY_TIMEOUT_S * 1000,
  };
}

function parsePgsql(connect: string): SqlServerTarget {
  const t = serverTarget('pgsql');
  const hostNames: string[] = [];
  let ports: number[] = [];
  let sslmode = 'prefer';
  const tls: TlsFiles = { verify: false, verifyName: false };
  for (const [key, value] of parseConninfo(connect)) {
    switch (key) {
      case 'host':
      case 'hostaddr':
        // libpq 10+ also takes comma lists: host=db1,db2 port=5432,5433
        hostNames.push(...value.split(',').filter((h) => h !== ''));
        break;
      case 'port':
        ports = value.split(',').map(port);
        break;
      case 'dbname': t.database = value; break;
      case 'user': t.user = value; break;
      case 'password': t.password = new Secret(value); break;
      case 'connect_timeout': t.connectTimeoutMs = Math.max(2, uint(key, value)) * 1000; break;
      case 'maxconns': t.maxConns = Math.max(1, uint(key, value, 1000)); break;
      case 'application_name': t.applicationName = value; break;
      case 'options': t.pgOptions = value; break;
      case 'sslmode': sslmode = value; break;
      case 'sslrootcert': tls.caFile = value; break;
      case 'sslcert': tls.certFile = value; break;
      case 'sslkey': tls.keyFile = value; break;
      default: fail(`pgsql keyword ${JSON.stringify(key)} is not supported`);
    }
  }
  switch (sslmode) {
    // Node's pg cannot fall back to plaintext, so libpq's default "prefer" means no TLS.
    case 'disable': case 'allow': case 'prefer': break;
    case 'require': t.tls = tls; break;
    case 'verify-ca': t.tls = { ...tls, verify: true }; break;
    case 'verify-full': t.tls = { ...tls, verify: true, verifyName: true }; break;
    default: fail(`invalid sslmode ${JSON.stringify(sslmode)}`);
  }
  if (hostNames.length === 0) hostNames.push('localhost');
  if (ports.length > 1 && ports.length !== hostNames.length) fail('port list does not match the host list');
  t.hosts = hostNames.map((host, n) => {
    const p = ports.length > 1 ? ports[n]! : (ports[0] ?? 5432);
    return { host, port: p, label: hostLabel(host, p) };
  });
  return t;
}

function parseMysql(connect: string): SqlServerTarget {
  const t = serverTarget('mysql');
  const hostNames: string[] = [];
  let p = 3306;
  let tls: TlsFiles | undefined;
  const tlsSet = (): TlsFiles => (tls ??= { verify: true, verifyName: true });
  for (const [key, value] of parseMysqlPairs(connect)) {
    switch (key) {
      case 'host':
      case 'hostaddr': hostNames.push(value); break;
      case 'port': p = port(value); break;
      case 'dbname': t.database = value; break;
      case 'user': t.user = value; break;
      case 'password': t.password = new Secret(value); break;
      case 'maxconns': t.maxConns = Math.max(1, uint(key, value, 1000)); break;
      case 'connect_timeout': t.connectTimeoutMs = Math.max(1, uint(key, value)) * 1000; break;
      case 'read_timeout': t.queryTimeoutMs = Math.max(1, uint(key, value)) * 1000; break;
      case 'write_timeout': uint(key, value); break; // covered by read_timeout: one limit per query
      case 'ssl_ca': tlsSet().caFile = value; break;
      case 'ssl_cert': tlsSet().certFile = value; break;
      case 'ssl_key': tlsSet().keyFile = value; break;
      case 'ssl_cipher': tlsSet().ciphers = value; break;
      case 'ssl_verify_server_cert':
        if (value !== 'yes' && value !== 'no') fail(`invalid boolean ${JSON.stringify(value)}`);
        tlsSet().verify = tlsSet().verifyName = value === 'yes';
        break;
      default: fail(`mysql keyword ${JSON.stringify(key)} is not supported`);
    }
  }
  if (hostNames.length === 0) fail('no hosts given in connect string');
  // Dovecot (libmysqlclient) turns TLS on with ssl_ca or ssl_ca_path; ssl_cipher alone does not.
  if (tls && (tls.caFile !== undefined || tls.certFile !== undefined)) t.tls = tls;
  t.hosts = hostNames.map((host) => (host.startsWith('/') ? { host, label: host } : { host, port: p, label: hostLabel(host, p) }));
  return t;
}

/** The hosts, for the passdb's label in logs. Never the password. */
export function describeTarget(t: SqlTarget): string {
  return t.driver === 'sqlite' ? `sqlite ${t.path}` : `${t.driver} ${t.hosts.map((h) => h.label).join(',')}${t.database ? `/${t.database}` : ''}`;
}
