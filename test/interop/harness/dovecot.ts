// A private Dovecot 2.3 instance per call, on loopback ports chosen at run time.
//
// Settings that mattered (2.3.19), and why:
// - `dovecot -c <tmp>/dovecot.conf -F`: our own config only (never /etc/dovecot), master stays a child of the test.
// - `base_dir`, `state_dir` per instance: sockets, master.pid ("already running") and the instances list
//   live there, so several instances run at once. Unix socket paths must stay < 108 bytes.
// - `listen = 127.0.0.1` and an inet_listener per service with a free port (imap, imaps, pop3, pop3s, lmtp, lmtps).
// - `log_path`/`info_log_path`/`debug_log_path` = <tmp>/dovecot.log: tests read and wait on it.
// - Mail processes refuse uid 0 (`first_valid_uid` = 500): as root, users get nobody's uid/gid through the
//   passwd-file uid/gid columns, mail/ and home/ are chowned to it, and the temp dir is 0755 so it can traverse.
//   Internal/login users stay the Debian defaults `dovecot`/`dovenull`. Not root: "rootless" settings instead.
// - `disable_plaintext_auth = no`, `auth_mechanisms = plain login`: plaintext logins over loopback.
// - `ssl = yes` with `ssl_cert`/`ssl_key = <file`: imaps/pop3s plus STARTTLS/STLS; 2.3.19 needs no `ssl_dh`.
// - `login_trusted_networks`: only then are ID x-originating-ip/-port/x-session-ext-id (IMAP) and XCLIENT (POP3)
//   honoured; the login line then reads `Login: user=<u>, method=PLAIN, rip=<forwarded ip>, ..., session=<ext id>`.
// - Master passdb `master = yes` with no `auth_master_user_separator`: AUTHENTICATE PLAIN authzid=user,
//   authcid=master logs in as user (auth logs "Master user logging in as <user>").
// - `auth_failure_delay = 0` (default 2 s) and the anvil-auth-penalty socket disabled (`mode = 0`): otherwise each
//   further failure from 127.0.0.1 waits 4.5 s, trusted network or not. Failures still answer after ~0.5 s
//   (auth flushes failures on a 500 ms timer).
// - `mail_max_userip_connections = 1000`: the default 10 counts every proxied connection from one IP.
// - Passwords are stored `{PLAIN.b64}` so any character survives the passwd-file format.
// - SIGTERM: ports close at once but the master exits only after ~1 s (it waits for its children); stop() waits.
import { chmod, chown, mkdir, readFile, rename, stat, writeFile } from 'node:fs/promises';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { randomBytes, X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { makeTempDir } from './cleanup.js';
import { getTestCerts, type CertFiles } from './certs.js';
import {
  renderDovecotConfig,
  renderPasswdFile,
  type DovecotPorts,
  type DovecotUser,
  type MailOwner,
} from './dovecot-config.js';
import { allListening, freePorts } from './ports.js';
import { spawnProcess, wrapped, type ManagedProcess } from './proc.js';
import { findBinary, requireBinary } from './skip.js';
import { pollUntil } from './wait.js';

export type { DovecotPorts, DovecotUser } from './dovecot-config.js';

export interface DovecotOptions {
  users: DovecotUser[];
  /** Adds a master passdb: log in as any user with AUTHENTICATE PLAIN authzid=<user>, authcid=<master>. */
  masterUser?: { name: string; password: string };
  /** `login_trusted_networks`, e.g. '127.0.0.0/8': lets postern forward the client IP with ID/XCLIENT. */
  trustedNetworks?: string;
  /** Default true: imaps/pop3s and STARTTLS/STLS with `cert`. */
  ssl?: boolean;
  /** Default: the test CA's server certificate (getTestCerts().server). */
  cert?: CertFiles;
  /** Dovecot's per-IP auth failure penalty; default false (off). */
  authPenalty?: boolean;
  /** Default '0'. */
  authFailureDelay?: string;
  /** `login_greeting`, e.g. to tell two backends apart. */
  loginGreeting?: string;
  /** auth_debug, mail_debug, verbose_ssl. */
  debug?: boolean;
  /** Appended verbatim to dovecot.conf; later settings win (keep log_path: readiness is read from the log). */
  extraConfig?: string;
  /** Default 10000 ms. */
  startTimeoutMs?: number;
  /** A command the master runs under, its arguments before Dovecot's (e.g. valgrind and its options); it is given a minute to stop. */
  wrap?: readonly string[];
  /** Fixed ports (e.g. the ones an example configuration names); the rest are chosen free. */
  ports?: Partial<DovecotPorts>;
}

export interface DovecotInstance {
  readonly host: '127.0.0.1';
  readonly ports: DovecotPorts;
  readonly dir: string;
  readonly configPath: string;
  readonly logPath: string;
  readonly users: readonly DovecotUser[];
  /** PEM to trust for the server certificate: the test CA, or the certificate itself if the CA did not sign it. */
  readonly ca: string;
  readonly cert: CertFiles;
  /** Time from spawn to all ports listening. */
  readonly startupMs: number;
  /** The master's pid (written to base_dir/master.pid once its signal handlers are set). */
  readonly masterPid: number;
  logText(): Promise<string>;
  /** Byte offset of the log's end, to pass as `since` to waitForLog. */
  logMark(): Promise<number>;
  /** First log line (after `since`) matching the pattern; the match is taken on that line. */
  waitForLog(pattern: RegExp, timeoutMs: number, opts?: { since?: number }): Promise<RegExpExecArray>;
  /** The user's Maildir root. */
  maildir(user: string): string;
  /** Writes a message into the user's Maildir new/ (tmp/ then rename); returns its path in new/.
   * Dovecot moves it to cur/ once a session sees it: compare against the bytes, not the path. */
  deliver(user: string, rawMessage: Buffer, opts?: { folder?: string }): Promise<string>;
  /** SIGTERM, SIGKILL to the process group after 5 s, then the temp dir is removed. Idempotent. */
  stop(): Promise<void>;
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

function readDb(path: string): string[][] {
  try {
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return [];
  }
}

function passwdEntry(match: (fields: string[]) => boolean): PasswdEntry | undefined {
  const fields = readDb('/etc/passwd').find(match);
  if (fields === undefined) return undefined;
  return { name: fields[0] ?? '', uid: Number(fields[2]), gid: Number(fields[3]) };
}

function groupName(gid: number): string | undefined {
  return readDb('/etc/group').find((f) => Number(f[2]) === gid)?.[0];
}

const isRoot = (): boolean => process.getuid?.() === 0;

/** Why Dovecot interop tests cannot run here, or undefined. */
export function dovecotSkipReason(): string | undefined {
  const missing = requireBinary('dovecot', 'openssl');
  if (missing !== undefined) return missing;
  if (isRoot()) {
    const absent = ['dovecot', 'dovenull', 'nobody'].filter((u) => passwdEntry((f) => f[0] === u) === undefined);
    if (absent.length > 0) return `system users missing for Dovecot: ${absent.join(', ')}`;
  } else if (groupName(process.getgid?.() ?? -1) === undefined) {
    return 'rootless Dovecot needs a named primary group for the current user';
  }
  return undefined;
}

function mailOwner(): MailOwner {
  if (isRoot()) {
    const nobody = passwdEntry((f) => f[0] === 'nobody');
    if (nobody === undefined) throw new Error('no nobody user');
    return { uid: nobody.uid, gid: nobody.gid };
  }
  return { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
}

function rootlessIdentity(owner: MailOwner): { user: string; group: string } | undefined {
  if (isRoot()) return undefined;
  const me = passwdEntry((f) => Number(f[2]) === owner.uid);
  return { user: me?.name ?? String(owner.uid), group: groupName(owner.gid) ?? String(owner.gid) };
}

async function mkdirOwned(path: string, owner: MailOwner, mode = 0o700): Promise<void> {
  await mkdir(path, { recursive: true, mode });
  await chown(path, owner.uid, owner.gid);
}

async function makeMaildir(root: string, owner: MailOwner): Promise<void> {
  await mkdirOwned(root, owner);
  for (const sub of ['cur', 'new', 'tmp']) await mkdirOwned(join(root, sub), owner);
}

const START_ATTEMPTS = 3;
const STOP_GRACE_MS = 5000;
let deliverySeq = 0;

export async function startDovecot(opts: DovecotOptions): Promise<DovecotInstance> {
  const skip = dovecotSkipReason();
  if (skip !== undefined) throw new Error(`cannot start Dovecot: ${skip}`);
  const binary = findBinary('dovecot') ?? 'dovecot';
  const tmp = makeTempDir('dovecot');
  const dir = tmp.path;
  try {
    if (/[\s"'\\]/.test(dir)) throw new Error(`temp dir unusable in dovecot.conf: ${dir}`);
    const owner = mailOwner();
    const sslEnabled = opts.ssl ?? true;
    const certs = await getTestCerts();
    const cert = opts.cert ?? certs.server;

    await chmod(dir, 0o755); // mail processes (nobody) traverse it
    await mkdirOwned(join(dir, 'mail'), owner, 0o755);
    await mkdirOwned(join(dir, 'home'), owner, 0o755);
    for (const user of opts.users) {
      await makeMaildir(join(dir, 'mail', user.name), owner);
      await mkdirOwned(join(dir, 'home', user.name), owner);
    }
    const passwdPath = join(dir, 'users.passwd');
    await writeFile(passwdPath, renderPasswdFile(opts.users, owner, join(dir, 'home')), { mode: 0o644 });
    let masterPasswdPath: string | undefined;
    if (opts.masterUser !== undefined) {
      masterPasswdPath = join(dir, 'masters.passwd');
      await writeFile(masterPasswdPath, renderPasswdFile([opts.masterUser], owner, join(dir, 'home')), { mode: 0o644 });
    }
    const configPath = join(dir, 'dovecot.conf');
    const logPath = join(dir, 'dovecot.log');
    const pidPath = join(dir, 'run', 'master.pid'); // base_dir is <dir>/run (dovecot-config.ts)
    const timeoutMs = opts.startTimeoutMs ?? 10_000;

    let proc: ManagedProcess | undefined;
    let ports: DovecotPorts | undefined;
    let startupMs = 0;
    for (let attempt = 1; attempt <= START_ATTEMPTS && proc === undefined; attempt++) {
      const [imap, imaps, pop3, pop3s, lmtp, lmtps] = await freePorts(6);
      const candidatePorts: DovecotPorts = { imap: imap!, imaps: imaps!, pop3: pop3!, pop3s: pop3s!, lmtp: lmtp!, lmtps: lmtps!, ...opts.ports };
      const config = renderDovecotConfig({
        dir,
        ports: candidatePorts,
        mailOwner: owner,
        rootless: rootlessIdentity(owner),
        passwdPath,
        masterPasswdPath,
        trustedNetworks: opts.trustedNetworks,
        ssl: sslEnabled ? { certPath: cert.certPath, keyPath: cert.keyPath } : undefined,
        authPenalty: opts.authPenalty ?? false,
        authFailureDelay: opts.authFailureDelay ?? '0',
        loginGreeting: opts.loginGreeting,
        debug: opts.debug ?? false,
        extraConfig: opts.extraConfig,
      });
      await writeFile(configPath, config);
      await writeFile(logPath, ''); // readiness is read from this attempt's log only
      rmSync(pidPath, { force: true }); // and from this attempt's master.pid
      const t0 = Date.now();
      const w = wrapped(opts.wrap, binary, ['-c', configPath, '-F'], STOP_GRACE_MS);
      const candidate = spawnProcess(w.command, w.args, w.stop);
      try {
        await waitUntilListening(candidate, Object.values(candidatePorts), timeoutMs, logPath, pidPath);
        proc = candidate;
        ports = candidatePorts;
        startupMs = Date.now() - t0;
      } catch (error) {
        await candidate.stop();
        const text = candidate.output() + (await readText(logPath));
        if (attempt < START_ATTEMPTS && /Address already in use/.test(text)) continue;
        throw error;
      }
    }
    if (proc === undefined || ports === undefined) throw new Error('Dovecot did not start');
    // A certificate the test CA did not sign is its own trust anchor (self-signed).
    const signedByTestCa = new X509Certificate(cert.cert).verify(new X509Certificate(certs.ca.cert).publicKey);
    const ca = signedByTestCa ? certs.ca.cert : cert.cert;
    const masterPid = Number(readFileSync(pidPath, 'utf8').trim());
    return makeInstance({ proc, ports, dir, configPath, logPath, owner, opts, cert, ca, startupMs, masterPid, removeDir: tmp.remove });
  } catch (error) {
    tmp.remove();
    throw error;
  }
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch {
    return '';
  }
}

const STARTED_LINE = /master: Info: Dovecot v\S+ .*starting up/;

/** Ready = the master logged "starting up" (it does so only once every listener is bound: a port lost to
 * another process fails the start instead), the ports are in LISTEN state, and master.pid is written
 * (the master writes it after the log line, once its signal handlers are set: a slow start, under
 * valgrind say, shows the gap). */
async function waitUntilListening(proc: ManagedProcess, ports: number[], timeoutMs: number, logPath: string, pidPath: string): Promise<void> {
  const exitedEarly = async (): Promise<never> => {
    throw new Error(`dovecot exited during startup (${JSON.stringify(proc.exitInfo())}):\n${proc.output()}${await readText(logPath)}`);
  };
  await pollUntil(
    async () => {
      if (proc.exitInfo() !== undefined) return exitedEarly();
      if (!STARTED_LINE.test(await readText(logPath))) return undefined;
      if (!existsSync(pidPath)) return undefined;
      return (await allListening(ports)) ? true : undefined;
    },
    { timeoutMs, intervalMs: 10, what: 'Dovecot to listen' },
  );
}

interface InstanceParts {
  proc: ManagedProcess;
  ports: DovecotPorts;
  dir: string;
  configPath: string;
  logPath: string;
  owner: MailOwner;
  opts: DovecotOptions;
  cert: CertFiles;
  ca: string;
  startupMs: number;
  masterPid: number;
  removeDir: () => void;
}

function makeInstance(p: InstanceParts): DovecotInstance {
  const readLog = async (since = 0): Promise<string> => {
    try {
      return (await readFile(p.logPath)).subarray(since).toString('utf8');
    } catch {
      return '';
    }
  };
  const maildir = (user: string): string => join(p.dir, 'mail', user);

  const deliver = async (user: string, raw: Buffer, opts: { folder?: string } = {}): Promise<string> => {
    if (!p.opts.users.some((u) => u.name === user)) throw new Error(`unknown test user ${user}`);
    let root = maildir(user);
    if (opts.folder !== undefined) {
      if (/[/\\]|^\.|^$/.test(opts.folder)) throw new Error(`unsupported folder name ${opts.folder}`);
      root = join(root, `.${opts.folder}`); // Maildir++
      await makeMaildir(root, p.owner);
      const marker = join(root, 'maildirfolder');
      await writeFile(marker, '', { mode: 0o600 });
      await chown(marker, p.owner.uid, p.owner.gid);
    }
    const now = Date.now();
    const unique = `${Math.floor(now / 1000)}.M${(now % 1000) * 1000}P${process.pid}Q${++deliverySeq}R${randomBytes(4).toString('hex')}.postern-harness`;
    const tmpPath = join(root, 'tmp', unique);
    const newPath = join(root, 'new', unique);
    await writeFile(tmpPath, raw, { mode: 0o600 });
    await chown(tmpPath, p.owner.uid, p.owner.gid);
    await rename(tmpPath, newPath);
    return newPath;
  };

  const waitForLog = async (pattern: RegExp, timeoutMs: number, opts: { since?: number } = {}): Promise<RegExpExecArray> => {
    const regex = new RegExp(pattern.source, pattern.flags.replace('g', ''));
    try {
      return await pollUntil(
        async () => {
          for (const line of (await readLog(opts.since)).split('\n')) {
            const match = regex.exec(line);
            if (match !== null) return match;
          }
          return undefined;
        },
        { timeoutMs, intervalMs: 20, what: `${regex} in ${p.logPath}` },
      );
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- dovecot.log ---\n${await readLog()}`);
    }
  };

  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      try {
        await p.proc.stop();
      } finally {
        p.removeDir();
      }
    })();
    return stopping;
  };

  return {
    host: '127.0.0.1',
    ports: p.ports,
    dir: p.dir,
    configPath: p.configPath,
    logPath: p.logPath,
    users: p.opts.users,
    ca: p.ca,
    cert: p.cert,
    startupMs: p.startupMs,
    masterPid: p.masterPid,
    logText: () => readLog(),
    logMark: async () => {
      try {
        return (await stat(p.logPath)).size;
      } catch {
        return 0;
      }
    },
    waitForLog,
    maildir,
    deliver,
    stop,
  };
}
