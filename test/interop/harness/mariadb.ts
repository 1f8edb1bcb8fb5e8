// MariaDB (or MySQL's mysqld) for interop suites: a fresh datadir in a temp folder, the server on a free
// loopback port with its socket in that folder, a login user with a password. The server drops to the
// `mysql` user by itself when we are root. Stopped (and the folder removed) by destroy().
import { chmod, chown, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import mysql from 'mysql2/promise';
import { makeTempDir } from './cleanup.js';
import { freePort } from './ports.js';
import { runCommand, spawnProcess, type ManagedProcess } from './proc.js';
import { findBinary } from './skip.js';
import { isRoot, systemUser } from './system-users.js';

export interface MariadbOptions {
  database?: string;
  user?: string;
  password?: string;
  startTimeoutMs?: number;
}

export interface MariadbInstance {
  readonly host: '127.0.0.1';
  readonly port: number;
  readonly socket: string;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  /** Dovecot's connect string for the login user. */
  readonly connect: string;
  /** Runs SQL (several statements allowed) as root, in the test database. */
  admin(sql: string): Promise<void>;
  /** Stops the server, keeping its data; idempotent. */
  stop(): Promise<void>;
  /** Starts it again on the same port. */
  start(): Promise<void>;
  /** Stops it and removes the folder; idempotent. */
  destroy(): Promise<void>;
  output(): string;
}

const START_ATTEMPTS = 3;

const binaries = (): { server?: string; install?: string } => ({
  server: findBinary('mariadbd') ?? findBinary('mysqld'),
  install: findBinary('mariadb-install-db') ?? findBinary('mysql_install_db'),
});

/** Why MariaDB suites cannot run here, or undefined. */
export function mariadbSkipReason(): string | undefined {
  const b = binaries();
  if (b.server === undefined || b.install === undefined) return 'MariaDB (mariadbd, mariadb-install-db) not installed';
  if (isRoot() && systemUser('mysql') === undefined) return 'no mysql user to run mariadbd as';
  return undefined;
}

export async function startMariadb(opts: MariadbOptions = {}): Promise<MariadbInstance> {
  const { server, install } = binaries();
  if (server === undefined || install === undefined) throw new Error('MariaDB not installed');
  const owner = isRoot() ? systemUser('mysql') : undefined;
  const tmp = makeTempDir('mariadb');
  const dir = tmp.path;
  const data = join(dir, 'data');
  const run = join(dir, 'run'); // owned by the server's user: it writes its socket and pid file there
  const socket = join(run, 'mysqld.sock');
  const database = opts.database ?? 'mail';
  const user = opts.user ?? 'postern';
  const password = opts.password ?? 'my-test-password';
  const timeoutMs = opts.startTimeoutMs ?? 30_000;
  const userArgs = owner === undefined ? [] : [`--user=${owner.name}`];
  let proc: ManagedProcess | undefined;
  let port = 0;

  const launch = async (p: number): Promise<ManagedProcess> => {
    // --no-defaults first: the distribution's my.cnf (and its system socket) stay out of it.
    const child = spawnProcess(server, [
      '--no-defaults', `--datadir=${data}`, `--socket=${socket}`, `--port=${p}`, '--bind-address=127.0.0.1',
      `--pid-file=${join(run, 'mysqld.pid')}`, '--skip-name-resolve', '--skip-log-bin', '--innodb-buffer-pool-size=16M',
      '--innodb-flush-log-at-trx-commit=0', ...userArgs,
    ], { cwd: dir, stopTimeoutMs: 15_000 });
    try {
      await child.waitForOutput(/ready for connections/, timeoutMs);
      return child;
    } catch (err) {
      await child.stop();
      throw err;
    }
  };

  const admin = async (sql: string, db: string | null = database): Promise<void> => {
    const conn = await mysql.createConnection({ socketPath: socket, user: 'root', multipleStatements: true, ...(db !== null ? { database: db } : {}) });
    try {
      await conn.query(sql);
    } finally {
      await conn.end();
    }
  };

  try {
    await chmod(dir, 0o755);
    await mkdir(data, { mode: 0o700 });
    await mkdir(run, { mode: 0o755 });
    if (owner !== undefined) for (const d of [data, run]) await chown(d, owner.uid, owner.gid);
    const init = await runCommand(install, ['--no-defaults', `--datadir=${data}`, '--auth-root-authentication-method=normal', '--skip-test-db', ...userArgs], {
      cwd: dir,
      timeoutMs: 120_000,
    });
    if (init.code !== 0) throw new Error(`mariadb-install-db failed (${init.code}):\n${init.stdout}${init.stderr}`);
    for (let attempt = 1; proc === undefined; attempt++) {
      port = await freePort();
      try {
        proc = await launch(port);
      } catch (err) {
        if (attempt >= START_ATTEMPTS || !/already in use|Can't start server: Bind/i.test(String(err))) throw err;
      }
    }
    await admin(
      `CREATE DATABASE ${database};` +
        ['127.0.0.1', 'localhost'].map((h) => `CREATE USER '${user}'@'${h}' IDENTIFIED BY '${password}'; GRANT SELECT, EXECUTE ON ${database}.* TO '${user}'@'${h}';`).join(''),
      null,
    );
  } catch (err) {
    await proc?.stop();
    tmp.remove();
    throw err;
  }

  let destroyed = false;
  const instance: MariadbInstance = {
    host: '127.0.0.1',
    port,
    socket,
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
