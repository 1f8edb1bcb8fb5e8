import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import {
  AuthError,
  expandVarsDetailed,
  silentLogger,
  varContextFromRequest,
  type AuthDeps,
  type AuthRequest,
  type Passdb,
  type PassdbDriver,
  type PassdbResult,
  type PassdbSpec,
} from '../auth/index.js';
import { nodeSocket } from '../net/index.js';
import { proxyConnect, type BackendTarget, type ProxyFailure } from '../proxy/index.js';
import { ImapBackendLogin } from './backend-login.js';

/*
 * Dovecot's `driver = imap` passdb (passdb-imap.c, 2.3 args): a password is right when
 * a remote IMAP server accepts it. The login itself is the proxy's backend login
 * (ImapBackendLogin over proxyConnect), without forwarding the client's identity, and
 * the connection is logged out at once.
 */

const IMAP_PORT = 143;
const IMAPS_PORT = 993;
/** Connect plus login; Dovecot's imapc waits as long by default. */
export const IMAP_PASSDB_TIMEOUT_MS = 30_000;

export interface ImapPassdbArgs {
  /** A template: `host=imap.%d` is allowed. */
  host: string;
  port: number;
  /** The login name at the remote server, a template (default %u). */
  username: string;
  ssl: 'none' | 'imaps' | 'starttls';
  sslCaFile?: string;
  sslCaDir?: string;
  allowInvalidCert: boolean;
}

/** Parses Dovecot's `args = host=... port=... ssl=imaps|starttls ...`; unknown keys are errors, as in Dovecot. */
export function parseImapPassdbArgs(args: string): ImapPassdbArgs & { ignored: string[] } {
  const out: Partial<ImapPassdbArgs> & { ignored: string[] } = { username: '%u', ssl: 'none', allowInvalidCert: false, ignored: [] };
  let port: number | undefined;
  for (const token of args.split(' ')) {
    if (token === '') continue;
    const eq = token.indexOf('=');
    const key = eq < 0 ? token : token.slice(0, eq);
    const value = eq < 0 ? '' : token.slice(eq + 1);
    switch (key) {
      case 'host':
        out.host = value;
        break;
      case 'port':
        port = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
        if (!(port >= 1 && port <= 65535)) throw new AuthError('AUTH_CONFIG', `passdb imap: invalid port: ${value}`);
        break;
      case 'username':
        out.username = value;
        break;
      case 'ssl':
        if (value !== 'imaps' && value !== 'starttls') throw new AuthError('AUTH_CONFIG', `passdb imap: invalid ssl mode: ${value} (imaps or starttls)`);
        out.ssl = value;
        break;
      case 'ssl_ca_file':
        out.sslCaFile = value;
        break;
      case 'ssl_ca_dir':
        out.sslCaDir = value;
        break;
      case 'allow_invalid_cert':
        if (!/^(yes|no|y|n)$/i.test(value)) throw new AuthError('AUTH_CONFIG', `passdb imap: allow_invalid_cert takes yes or no, not ${value}`);
        out.allowInvalidCert = /^y/i.test(value);
        break;
      case 'rawlog_dir':
        out.ignored.push(key);
        break;
      default:
        throw new AuthError('AUTH_CONFIG', `passdb imap: unknown parameter: ${key}`);
    }
  }
  if (out.host === undefined || out.host === '') throw new AuthError('AUTH_CONFIG', 'passdb imap: missing host parameter');
  return { ...(out as ImapPassdbArgs & { ignored: string[] }), port: port ?? (out.ssl === 'imaps' ? IMAPS_PORT : IMAP_PORT) };
}

/** What a failed remote login means for the chain (passdb_imap_get_failure_result). */
export function imapFailureResult(f: ProxyFailure): PassdbResult {
  switch (f.kind) {
    case 'authRefused':
      // NO with no resp-code, or [AUTHENTICATIONFAILED].
      return { kind: 'passwordMismatch' };
    case 'remoteCode': {
      const code = /^NO \[([^\]\s]+)/i.exec(f.remoteReply ?? '')?.[1]?.toUpperCase();
      // Dovecot: AUTHORIZATIONFAILED is a mismatch, EXPIRED an expired password (no such result here).
      if (code === 'AUTHORIZATIONFAILED' || code === 'EXPIRED') return { kind: 'passwordMismatch' };
      return { kind: 'tempFail', reason: `imap passdb: ${f.detail}` };
    }
    default:
      // [UNAVAILABLE], connect failures, timeouts, TLS and protocol trouble: not the user's fault.
      return { kind: 'tempFail', reason: `imap passdb: ${f.detail}` };
  }
}

function readCa(a: ImapPassdbArgs, baseDir: string | undefined): Buffer | undefined {
  const abs = (p: string) => (isAbsolute(p) || baseDir === undefined ? p : resolve(baseDir, p));
  const pems: Buffer[] = [];
  try {
    if (a.sslCaFile !== undefined) pems.push(readFileSync(abs(a.sslCaFile)));
    if (a.sslCaDir !== undefined) {
      const dir = abs(a.sslCaDir);
      for (const name of readdirSync(dir).sort()) {
        const p = join(dir, name);
        if (!statSync(p).isFile()) continue;
        const pem = readFileSync(p);
        if (pem.includes('-----BEGIN CERTIFICATE-----')) pems.push(pem);
      }
    }
  } catch (err) {
    throw new AuthError('AUTH_CONFIG', `passdb imap: cannot read the CA certificates: ${(err as Error).message}`, { cause: err });
  }
  return pems.length > 0 ? Buffer.concat(pems.flatMap((p) => [p, Buffer.from('\n')])) : undefined;
}

export const imapPassdbDriver: PassdbDriver = {
  driver: 'imap',
  description: 'Verifies the password by logging in to a remote IMAP server, as Dovecot\'s imap passdb: "host=imap.%d [port=143] [username=%u] [ssl=imaps|starttls] [ssl_ca_file=PEM] [ssl_ca_dir=DIR] [allow_invalid_cert=no]".',
  create(spec: PassdbSpec, deps: AuthDeps): Passdb {
    const a = parseImapPassdbArgs(spec.args);
    const ca = readCa(a, deps.baseDir);
    const log = (deps.log ?? silentLogger).child({ passdb: 'imap' });
    if (a.ignored.length > 0) log.warn({}, `passdb imap: ${a.ignored.join(', ')} not supported; ignored`);
    let closed = false;
    return {
      name: spec.name ?? `imap ${a.host}:${a.port}`,
      cacheKey: `${a.host} ${a.username}`,
      async lookup(req: AuthRequest): Promise<PassdbResult> {
        if (closed) return { kind: 'tempFail', reason: 'imap passdb is closed' };
        if (req.password === undefined) return { kind: 'tempFail', reason: 'the imap passdb checks passwords by logging in; it cannot look a user up without one' };
        const ctx = varContextFromRequest(req);
        const host = expandVarsDetailed(a.host, ctx);
        const user = expandVarsDetailed(a.username, ctx);
        const unknown = [...host.unknown, ...user.unknown];
        if (unknown.length > 0) return { kind: 'tempFail', reason: `unknown variable ${unknown.join(', ')} in imap passdb args` };
        const target: BackendTarget = {
          host: host.value,
          port: a.port,
          tls: a.ssl === 'imaps' ? 'implicit' : a.ssl === 'starttls' ? 'starttls' : 'none',
          verifyCert: !a.allowInvalidCert,
          user: user.value,
          password: req.password,
          nopipelining: false,
          // The remote server is an authority, not a backend of ours: no ID with the client's address.
          notTrusted: true,
          timeoutMs: IMAP_PASSDB_TIMEOUT_MS,
        };
        const forward = { session: req.session, clientIp: req.remoteIp, clientPort: req.remotePort, localIp: req.localIp, localPort: req.localPort, ttl: 1 };
        const outcome = await proxyConnect(target, () => new ImapBackendLogin({ target, clientTag: 'P', clientAskedCapability: false, forward }), {
          maxReconnects: 0,
          reconnectIntervalMs: 0,
          ...(ca ? { ca } : {}),
        });
        if (outcome.kind === 'ok') {
          // Without nativeDial, proxyConnect's backend is a net.Socket already.
          const s = nodeSocket(outcome.socket);
          s.on('error', () => {});
          s.setTimeout(5_000, () => s.destroy());
          s.end('Z LOGOUT\r\n');
          return { kind: 'ok', fields: {} };
        }
        const r = imapFailureResult(outcome.failure);
        const where = `${target.host}:${target.port}`;
        if (r.kind === 'tempFail') log.error({ user: req.user, remote: where, failure: outcome.failure.kind }, outcome.failure.detail);
        else log.info({ user: req.user, remote: where }, outcome.failure.detail);
        return r;
      },
      close: async () => {
        closed = true;
      },
    };
  },
};
