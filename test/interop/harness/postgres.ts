// PostgreSQL for interop suites: initdb in a temp folder, the server on a free loopback port with its socket
// in that folder, a login role with a password (SCRAM over TCP). Run as the `postgres` (or `nobody`) user
// when we are root, since postgres refuses root. Stopped (and the folder removed) by destroy().
import { existsSync, readdirSync } from 'node:fs';
import { chmod, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { makeTempDir } from './cleanup.js';
import { freePort } from './ports.js';
import { runCommand, spawnProcess, type ManagedProcess } from './proc.js';
import { findBinary } from './skip.js';
import { isRoot, systemUser, type SystemUser } from './system-users.js';

export interface PostgresOptions {
  database?: string;
  user?: string;
  password?: string;
  startTimeoutMs?: number;
}

export interface PostgresInstance {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  /** Dovecot's connect string for the login role. */
  readonly connect: string;
  /** Runs SQL as the superuser, in the test database. */
  admin(sql: string): Promise<void>;
  /** Stops the server, keeping its data; idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it and removes the folder; idempotent. */
  destroy(): Promise<void>;
  output(): string;
}

const SUPERUSER = 'admin';
const START_ATTEMPTS = 3;

function binDir(): string | undefined {
  const onPath = findBinary('initdb');
  if (onPath !== undefined && findBinary('postgres') !== undefined) return onPath.slice(0, onPath.lastIndexOf('/'));
  const root = '/usr/lib/postgresql';
  let versions: string[] = [];
  try {
    versions = readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  } catch {
    return undefined;
  }
  const dir = versions.map((v) => join(root, v, 'bin')).find((d) => existsSync(join(d, 'initdb')) && existsSync(join(d, 'postgres')));
  return dir;
}

/** Why PostgreSQL suites cannot run here, or undefined. */
export function postgresSkipReason(): string | undefined {
  if (binDir() === undefined) return 'PostgreSQL (initdb, postgres) not installed';
  if (isRoot()) {
    if (findBinary('setpriv') === undefined) return 'setpriv not installed (postgres refuses to run as root)';
    if (systemUser('postgres', 'nobody') === undefined) return 'no postgres or nobody user to run postgres as';
  }
  return undefined;
}

/** The command, run as `user` when we are root. */
function as(user: SystemUser | undefined, cmd: string, args: string[]): [string, string[]] {
  if (user === undefined) return [cmd, args];
  return [findBinary('setpriv') ?? 'setpriv', [`--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--', cmd, ...args]];
}

export async function startPostgres(opts: PostgresOptions = {}): Promise<PostgresInstance> {
  const bin = binDir();
  if (bin === undefined) throw new Error('PostgreSQL not installed');
  const runAs = isRoot() ? systemUser('postgres', 'nobody') : undefined;
  const tmp = makeTempDir('postgres');
  const dir = tmp.path;
  const data = join(dir, 'data');
  const sockets = join(dir, 'run'); // owned by the server's user: it writes its socket and lock there
  const database = opts.database ?? 'mail';
  const user = opts.user ?? 'postern';
  const password = opts.password ?? 'pg-test-password';
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  let proc: ManagedProcess | undefined;
  let port = 0;

  const launch = async (p: number): Promise<ManagedProcess> => {
    const [cmd, args] = as(runAs, join(bin, 'postgres'), [
      '-D', data, '-k', sockets, '-p', String(p),
      '-c', 'listen_addresses=127.0.0.1', '-c', 'fsync=off', '-c', 'full_page_writes=off', '-c', 'max_connections=50',
    ]);
    // SIGINT is PostgreSQL's fast shutdown: it does not wait for clients to leave.
    const child = spawnProcess(cmd, args, { cwd: dir, stopSignal: 'SIGINT', stopTimeoutMs: 10_000 });
    try {
      await child.waitForOutput(/database system is ready to accept connections/, timeoutMs);
      return child;
    } catch (err) {
      await child.stop();
      throw err;
    }
  };

  const admin = async (sql: string, db = database): Promise<void> => {
    const client = new pg.Client({ host: sockets, port, user: SUPERUSER, database: db });
    await client.connect();
    try {
      await client.query(sql);
    } finally {
      await client.end();
    }
  };

  try {
    await chmod(dir, 0o755); // the server's user reaches its data and socket through it
    await mkdir(data, { mode: 0o700 });
    await mkdir(sockets, { mode: 0o755 });
    if (runAs !== undefined) for (const d of [data, sockets]) await chown(d, runAs.uid, runAs.gid);
    const [cmd, args] = as(runAs, join(bin, 'initdb'), ['-D', data, '-U', SUPERUSER, '--auth-local=trust', '--auth-host=scram-sha-256', '-E', 'UTF8', '--locale=C', '--no-sync']);
    const init = await runCommand(cmd, args, { cwd: dir, timeoutMs: 60_000 });
    if (init.code !== 0) throw new Error(`initdb failed (${init.code}):\n${init.stdout}${init.stderr}`);
    for (let attempt = 1; proc === undefined; attempt++) {
      port = await freePort();
      try {
        proc = await launch(port);
      } catch (err) {
        if (attempt >= START_ATTEMPTS || !/could not bind|already in use/i.test(String(err))) throw err;
      }
    }
    await admin(`CREATE ROLE ${user} LOGIN PASSWORD '${password}'`, 'postgres');
    await admin(`CREATE DATABASE ${database} OWNER ${user}`, 'postgres'); // not in a transaction
  } catch (err) {
    await proc?.stop();
    tmp.remove();
    throw err;
  }

  let destroyed = false;
  const instance: PostgresInstance = {
    host: '127.0.0.1',
    port,
    database,
    user,
    password,
    connect: `host=127.0.0.1 port=${port} dbname=${database} user=${user} password=${password}`,
    admin: (sql) => admin(sql),
    async stop() {
      await proc?.stop();
      proc = undefined;
    },
    async start() {
      if (destroyed) throw new Error('destroyed');
      proc ??= await launch(port);
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      await instance.stop();
      tmp.remove();
    },
    output: () => proc?.output() ?? '',
  };
  return instance;
}
