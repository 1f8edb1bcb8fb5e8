// A private OpenLDAP slapd per call: generated slapd.conf, mdb database in a temp dir, loopback ports chosen
// at run time, in the foreground (`-d stats`: connection and operation lines on stderr, which tests read).
//
// - `slapadd -f slapd.conf -l tree.ldif` loads the tree before the server starts (no network writes needed).
// - Debian builds back_mdb as a module (/usr/lib/ldap); elsewhere it may be built in: moduleload only if present.
// - Schemas: core, cosine, nis (posixAccount), inetorgperson, misc (mailHost) from /etc/ldap/schema.
// - TLS (optional): TLSCertificateFile etc. serve StartTLS on ldap:// and ldaps:// on a second port.
// - stop()/start() keep the port and the data, so a test can restart the server under a client.
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir } from './cleanup.js';
import type { CertFiles } from './certs.js';
import { freePorts, waitForListening } from './ports.js';
import { runCommand, spawnProcess, type ManagedProcess } from './proc.js';
import { findBinary, requireBinary } from './skip.js';

const SCHEMA_DIRS = ['/etc/ldap/schema', '/etc/openldap/schema', '/usr/local/etc/openldap/schema'];
const MODULE_DIRS = ['/usr/lib/ldap', '/usr/lib/openldap', '/usr/lib64/openldap'];
const SCHEMAS = ['core', 'cosine', 'nis', 'inetorgperson', 'misc'];
const START_ATTEMPTS = 3;

export interface SlapdOptions {
  /** e.g. `dc=example,dc=test`; the LDIF must create it. */
  suffix: string;
  rootDn: string;
  rootPassword: string;
  /** The tree, loaded with slapadd. */
  ldif: string;
  /** `access to ...` lines; default: everything readable by everyone. */
  acl?: string;
  /** Serve StartTLS and ldaps:// with this certificate. */
  tls?: { cert: CertFiles; caPath: string };
  startTimeoutMs?: number;
}

export interface SlapdInstance {
  readonly dir: string;
  readonly port: number;
  /** Set when `tls` was given. */
  readonly ldapsPort: number | undefined;
  /** A Unix socket (ldapi://, URL-encoded path in `ldapiUri`). */
  readonly ldapiPath: string;
  readonly ldapiUri: string;
  readonly url: string;
  /** stdout+stderr of the current and earlier runs. */
  log(): string;
  stop(): Promise<void>;
  /** Starts again on the same ports with the same data. */
  start(): Promise<void>;
  /** Stops and removes everything. Idempotent. */
  destroy(): Promise<void>;
}

export function slapdSkipReason(): string | undefined {
  const missing = requireBinary('slapd', 'slapadd', 'slappasswd');
  if (missing !== undefined) return missing;
  if (schemaDir() === undefined) return `no OpenLDAP schema folder (${SCHEMA_DIRS.join(', ')})`;
  return undefined;
}

function schemaDir(): string | undefined {
  return SCHEMA_DIRS.find((d) => existsSync(join(d, 'core.schema')));
}

/** `slappasswd -h SCHEME -s password` (and `-c` crypt salt format). */
export async function slappasswd(password: string, scheme = '{SSHA}', cryptFormat?: string): Promise<string> {
  const args = ['-h', scheme, '-s', password, ...(cryptFormat ? ['-c', cryptFormat] : [])];
  const r = await runCommand(findBinary('slappasswd') ?? 'slappasswd', args, { timeoutMs: 10_000 });
  if (r.code !== 0) throw new Error(`slappasswd failed: ${r.stderr}`);
  return r.stdout.trim();
}

function renderConfig(dir: string, opts: SlapdOptions): string {
  const schemas = schemaDir()!;
  const moduleDir = MODULE_DIRS.find((d) => existsSync(join(d, 'back_mdb.la')) || existsSync(join(d, 'back_mdb.so')));
  return [
    ...SCHEMAS.map((s) => `include ${join(schemas, `${s}.schema`)}`),
    `pidfile ${join(dir, 'slapd.pid')}`,
    `argsfile ${join(dir, 'slapd.args')}`,
    ...(moduleDir ? [`modulepath ${moduleDir}`, 'moduleload back_mdb'] : []),
    ...(opts.tls
      ? [
          `TLSCACertificateFile ${opts.tls.caPath}`,
          `TLSCertificateFile ${opts.tls.cert.certPath}`,
          `TLSCertificateKeyFile ${opts.tls.cert.keyPath}`,
        ]
      : []),
    'database mdb',
    'maxsize 10485760',
    `suffix "${opts.suffix}"`,
    `rootdn "${opts.rootDn}"`,
    `rootpw ${opts.rootPassword}`,
    `directory ${join(dir, 'data')}`,
    opts.acl ?? 'access to * by * read',
    '',
  ].join('\n');
}

export async function startSlapd(opts: SlapdOptions): Promise<SlapdInstance> {
  const skip = slapdSkipReason();
  if (skip !== undefined) throw new Error(`cannot start slapd: ${skip}`);
  const tmp = makeTempDir('slapd');
  const dir = tmp.path;
  const logs: string[] = [];
  let proc: ManagedProcess | undefined;
  try {
    if (/[\s"'\\]/.test(dir)) throw new Error(`temp dir unusable in slapd.conf: ${dir}`);
    await mkdir(join(dir, 'data'), { mode: 0o700 });
    const conf = join(dir, 'slapd.conf');
    await writeFile(conf, renderConfig(dir, opts));
    await writeFile(join(dir, 'tree.ldif'), opts.ldif);
    const add = await runCommand(findBinary('slapadd') ?? 'slapadd', ['-f', conf, '-l', join(dir, 'tree.ldif')], { timeoutMs: 30_000 });
    if (add.code !== 0) throw new Error(`slapadd failed (${add.code}):\n${add.stdout}${add.stderr}`);

    const ldapiPath = join(dir, 'ldapi');
    const ldapiUri = `ldapi://${encodeURIComponent(ldapiPath)}`;
    let ports: number[] = [];
    const spawnOn = async (p: number[]): Promise<ManagedProcess> => {
      const urls = [`ldap://127.0.0.1:${p[0]}/`, ...(opts.tls ? [`ldaps://127.0.0.1:${p[1]}/`] : []), `${ldapiUri}/`];
      const child = spawnProcess(findBinary('slapd') ?? 'slapd', ['-f', conf, '-h', urls.join(' '), '-d', 'stats'], { stopTimeoutMs: 5000 });
      try {
        await child.waitForOutput(/slapd starting/, opts.startTimeoutMs ?? 10_000);
        await waitForListening(p, opts.startTimeoutMs ?? 10_000);
        return child;
      } catch (error) {
        await child.stop();
        logs.push(child.output());
        throw error;
      }
    };
    for (let attempt = 1; proc === undefined; attempt++) {
      const candidate = await freePorts(opts.tls ? 2 : 1);
      try {
        proc = await spawnOn(candidate);
        ports = candidate;
      } catch (error) {
        if (attempt < START_ATTEMPTS && /Address already in use/.test(logs.at(-1) ?? '')) continue;
        throw error;
      }
    }

    const stop = async (): Promise<void> => {
      if (proc === undefined) return;
      const p = proc;
      proc = undefined;
      await p.stop();
      logs.push(p.output());
    };
    let destroyed = false;
    return {
      dir,
      port: ports[0]!,
      ldapsPort: opts.tls ? ports[1] : undefined,
      ldapiPath,
      ldapiUri,
      url: `ldap://127.0.0.1:${ports[0]}`,
      log: () => logs.join('') + (proc?.output() ?? ''),
      stop,
      async start() {
        if (proc !== undefined) return;
        proc = await spawnOn(ports);
      },
      async destroy() {
        if (destroyed) return;
        destroyed = true;
        await stop();
        tmp.remove();
      },
    };
  } catch (error) {
    await proc?.stop();
    tmp.remove();
    throw error;
  }
}
