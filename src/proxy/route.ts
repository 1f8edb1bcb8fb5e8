import { isIP } from 'node:net';
import { Secret } from '../core/index.js';
import { parseDurationMs } from '../core/index.js';
import { fieldSet } from './fields.js';
import type { BackendTarget, BackendTls } from './types.js';

export type Fields = Readonly<Record<string, string>>;

/** What a successful authentication turns into. */
export type Route =
  | { kind: 'proxy'; target: BackendTarget }
  /** Serve the session here: no proxy fields, or proxy_maybe pointing at ourselves. */
  | { kind: 'local' }
  /** `host` without `proxy`: an RFC 2221 login referral. */
  | { kind: 'referral'; host: string; port?: number; user: string; nologin: boolean; reason?: string }
  | { kind: 'nologin'; reason?: string }
  /** `proxy` pointing at ourselves. */
  | { kind: 'loop'; detail: string }
  /** The passdb's fields cannot be used (bad port, proxy without host): an operator's mistake. */
  | { kind: 'invalid'; detail: string };

export interface RouteContext {
  /** The authenticated user (after any `user=` rename). */
  user: string;
  fields: Fields;
  /** The client's password, forwarded unless the passdb gives `pass`. */
  password?: Secret;
  defaultPort: number;
  /** Port for `ssl=yes` without `port` (Dovecot's default_ssl_port: 993 for IMAP); else defaultPort. */
  defaultTlsPort?: number;
  defaultTimeoutMs: number;
  /** True when host:port is one of postern's own listeners on this machine. */
  isSelf(host: string, port: number): boolean;
}

function tlsMode(fields: Fields): { tls: BackendTls; verifyCert: boolean } | { error: string } {
  const starttls = fields['starttls'];
  const ssl = fields['ssl'];
  const mode = (v: string | undefined) => (v === undefined || /^(no|n|false|0)$/i.test(v) ? undefined : v.toLowerCase());
  const st = mode(starttls);
  const sl = mode(ssl);
  if (st !== undefined) {
    if (!/^(yes|y|true|1|any-cert|)$/.test(st)) return { error: `starttls=${starttls} (expected yes or any-cert)` };
    return { tls: 'starttls', verifyCert: st !== 'any-cert' && sl !== 'any-cert' };
  }
  if (sl !== undefined) {
    if (!/^(yes|y|true|1|any-cert|)$/.test(sl)) return { error: `ssl=${ssl} (expected yes or any-cert)` };
    return { tls: 'implicit', verifyCert: sl !== 'any-cert' };
  }
  return { tls: 'none', verifyCert: false };
}

function parsePort(raw: string | undefined, dflt: number): number | undefined {
  if (raw === undefined || raw === '') return dflt;
  if (!/^\d{1,5}$/.test(raw)) return undefined;
  const n = Number(raw);
  return n >= 1 && n <= 65535 ? n : undefined;
}

export function resolveRoute(ctx: RouteContext): Route {
  const f = ctx.fields;
  const host = f['host']?.trim() || undefined;
  const proxy = fieldSet(f, 'proxy');
  const proxyMaybe = fieldSet(f, 'proxy_maybe');
  const nologin = fieldSet(f, 'nologin');
  const destuser = f['destuser'] || ctx.user;

  if (proxy || proxyMaybe) {
    if (!host) return { kind: 'invalid', detail: 'proxy requested but the passdb gave no host' };
    const tls = tlsMode(f);
    if ('error' in tls) return { kind: 'invalid', detail: tls.error };
    const port = parsePort(f['port'], tls.tls === 'implicit' ? (ctx.defaultTlsPort ?? ctx.defaultPort) : ctx.defaultPort);
    if (port === undefined) return { kind: 'invalid', detail: `invalid port=${f['port']}` };
    if (ctx.isSelf(host, port)) {
      return proxyMaybe && !proxy ? { kind: 'local' } : { kind: 'loop', detail: `Proxying loops to itself: ${host}:${port}` };
    }
    const timeout = f['proxy_timeout'] !== undefined ? parseDurationMs(f['proxy_timeout']) : ctx.defaultTimeoutMs;
    if (timeout === undefined || timeout <= 0) return { kind: 'invalid', detail: `invalid proxy_timeout=${f['proxy_timeout']}` };
    const sourceIp = f['source_ip'];
    if (sourceIp !== undefined && isIP(sourceIp) === 0) return { kind: 'invalid', detail: `invalid source_ip=${sourceIp}` };
    const pass = f['pass'] !== undefined ? new Secret(f['pass']) : ctx.password;
    const target: BackendTarget = {
      host,
      port,
      tls: tls.tls,
      verifyCert: tls.verifyCert,
      user: destuser,
      ...(pass ? { password: pass } : {}),
      ...(f['master'] ? { master: f['master'] } : {}),
      ...(f['proxy_mech'] ? { mech: f['proxy_mech'].toUpperCase() } : {}),
      nopipelining: fieldSet(f, 'proxy_nopipelining'),
      notTrusted: fieldSet(f, 'proxy_not_trusted'),
      ...(sourceIp ? { sourceIp } : {}),
      timeoutMs: timeout,
    };
    return { kind: 'proxy', target };
  }
  const reason = f['reason'] || undefined;
  if (host) {
    const port = parsePort(f['port'], ctx.defaultPort);
    return { kind: 'referral', host, ...(port !== undefined && port !== ctx.defaultPort ? { port } : {}), user: destuser, nologin, ...(reason ? { reason } : {}) };
  }
  if (nologin) return { kind: 'nologin', ...(reason ? { reason } : {}) };
  return { kind: 'local' };
}
