import type { Authenticator } from '../../auth/index.js';
import type { Logger } from '../../log/index.js';
import type { Connection } from '../../net/index.js';
import { resolveRoute } from '../../proxy/index.js';
import { LmtpBackend, type BackendAnswer } from './backend.js';
import { forwardFromPassdb, type RcptParams } from './params.js';
import { R } from './replies.js';
import type { Transaction } from './transaction.js';
import { xtext, type XclientAttr } from './xclient.js';

const LMTP_DEFAULT_PORT = 24;

/** The MTA as backends should see it: the peer, or what a trusted proxy in front forwarded. */
export interface ClientView {
  ip: string;
  port: number;
  /** Forwarded with XCLIENT HELO, else the client's own LHLO domain. */
  helo: string;
  proto: string;
  login?: string;
  session: string;
  /** Proxy hops left; 0 refuses every proxied recipient as a loop. */
  ttl: number;
}

export interface RcptDeps {
  authenticator: Authenticator;
  conn: Connection;
  hostname: string;
  proxyTimeoutMs: number;
  isSelf(host: string, port: number): boolean;
  backendCa?: Buffer;
  maxReconnects: number;
  reconnectIntervalMs: number;
  /** proxy.source_ips, per address family. */
  sourceIp?: (family: 4 | 6) => string | undefined;
  log: Logger;
}

/** The reply to send, or undefined when the transaction ended meanwhile (RSET, disconnect): say nothing. */
export type RcptReply = string | Buffer | undefined;

/**
 * One recipient (lmtp-proxy.c lmtp_proxy_rcpt): a passdb lookup without a password, the route
 * from its fields, the TTL check, then RCPT TO on the backend session for that host:port,
 * opened on first use. 250 only once the backend said so.
 */
export async function routeRecipient(d: RcptDeps, client: ClientView, tx: Transaction, rcpt: string, params: RcptParams, current: () => boolean): Promise<RcptReply> {
  const c = d.conn;
  const result = await d.authenticator.lookupUser!({
    service: 'lmtp', mech: '', user: rcpt, remoteIp: client.ip, remotePort: client.port,
    localIp: c.localIp, localPort: c.localPort, secured: c.secured, session: client.session,
  });
  if (!current()) return undefined; // the client left meanwhile: open nothing
  if (result.kind === 'tempFail') return R.lookupTempFail(rcpt);
  if (result.kind === 'fail') return R.unknownUser(rcpt);
  const route = resolveRoute({ user: result.user, fields: result.fields, defaultPort: LMTP_DEFAULT_PORT, defaultTimeoutMs: d.proxyTimeoutMs, isSelf: d.isSelf });
  switch (route.kind) {
    case 'local':
    case 'referral': // host without proxy: Dovecot delivers locally
      return R.localDelivery;
    case 'nologin':
      return R.loginDisabled;
    case 'loop':
      return R.loop;
    case 'invalid':
      d.log.warn({ rcpt, detail: route.detail }, 'unusable passdb fields for LMTP recipient');
      return R.internal;
    case 'proxy':
      break;
    default: {
      const never: never = route;
      return never;
    }
  }
  if (client.ttl <= 0) {
    d.log.error({ event: 'lmtp_loop', rcpt }, `Proxying to <${rcpt}> appears to be looping (TTL=0)`);
    return R.ttlLoop;
  }
  const t = route.target;
  const key = `${t.host}:${t.port}:${t.tls}`;
  let entry = tx.backends.get(key);
  if (entry === undefined) {
    const xclient: Partial<Record<XclientAttr, string>> | undefined = t.notTrusted ? undefined : {
      HELO: client.helo, PROTO: client.proto, ...(client.login !== undefined ? { LOGIN: client.login } : {}), SESSION: client.session,
      TTL: String(client.ttl - 1), TIMEOUT: String(Math.ceil(t.timeoutMs / 1000)),
      // A unix-socket client has no address or port: send none, as Dovecot does.
      ...(client.ip ? { ADDR: client.ip } : {}), ...(client.port > 0 ? { PORT: String(client.port) } : {}),
      ...(c.localIp ? { DESTADDR: c.localIp } : {}), ...(c.localPort > 0 ? { DESTPORT: String(c.localPort) } : {}),
    };
    if (xclient && client.helo === '') delete xclient.HELO;
    const tls = t.tls === 'none' ? undefined : { mode: t.tls, verifyCert: t.verifyCert, ...(d.backendCa ? { ca: d.backendCa } : {}) };
    // login_source_ips as for IMAP and POP3: the passdb's source_ip first, else the next configured one.
    entry = LmtpBackend.open({
      host: t.host, port: t.port, ...(t.sourceIp ? { localAddress: t.sourceIp } : {}), ...(d.sourceIp ? { sourceIp: d.sourceIp } : {}), timeoutMs: t.timeoutMs, lhlo: d.hostname, maxReconnects: d.maxReconnects, reconnectIntervalMs: d.reconnectIntervalMs,
      onRetry: (attempt, why) => d.log.info({ event: 'proxy_reconnect', backend: `${t.host}:${t.port}`, attempt, failure: why }, 'reconnecting to LMTP backend'),
      ...(xclient ? { xclient } : {}), ...(tls ? { tls } : {}),
    }, tx.from);
    tx.backends.set(key, entry);
  }
  const opened = entry instanceof LmtpBackend ? { kind: 'open' as const, backend: entry } : await entry;
  if (opened.kind !== 'open') return answerText(opened, client.session);
  tx.backends.set(key, opened.backend);
  if (!current()) return undefined; // RSET or disconnect meanwhile
  const b = opened.backend;
  // Dovecot adds ORCPT when the passdb changed the address, and XRCPTFORWARD (passdb forward_* fields first) when offered.
  const orcpt = params.orcpt ?? (t.user !== rcpt ? `rfc822;${xtext(rcpt)}` : undefined);
  const forward = b.extensions.has('XRCPTFORWARD') ? forwardFromPassdb(result.fields) ?? params.forward : undefined;
  const answer = await b.command(`RCPT TO:<${t.user}>${orcpt !== undefined ? ` ORCPT=${orcpt}` : ''}${forward !== undefined ? ` XRCPTFORWARD=${forward}` : ''}`);
  if (answer.kind === 'reply' && answer.reply.code >= 200 && answer.reply.code < 300) {
    tx.recipients.push({ path: rcpt, backend: key, where: `${t.host}:${t.port}` });
    return R.rcptOk;
  }
  return answerText(answer, client.session);
}

/** A backend's reply as it came, or its failure in Dovecot's words. */
export function answerText(a: BackendAnswer, session: string): string | Buffer {
  return a.kind === 'reply' ? a.reply.raw : R.proxyFailed(a.reason, session);
}
