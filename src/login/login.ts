import { AuthPolicy, type AuthResult, type Authenticator, type FailureInfo, type Fields } from '../auth/index.js';
import type { AbortLike } from '../core/index.js';
import type { Logger } from '../log/index.js';
import { DisconnectSpread, fieldSet, proxyConnect, resolveRoute, type DisconnectTicket, type ProxyConfig, type SourceIps } from '../proxy/index.js';
import { tlsResumed, type ConnectionLimits, type Lease } from '../net/index.js';
import type { AuthRequest, LoginOutcome, ProtocolLogin } from './types.js';

export interface LoginServiceOptions {
  authenticator: Authenticator;
  proxy: ProxyConfig;
  /** CA bundle for verified backend TLS. */
  backendCa?: Buffer;
  /** The failure delay and per-address penalty, shared with the other logins of the process. */
  policy?: AuthPolicy;
  /** Without `policy`: auth.failure_delay alone, no penalty (tests). */
  failureDelayMs?: number;
  /** host:port is one of postern's own listeners. */
  isSelf(host: string, port: number): boolean;
  /** Without `policy`, injected in tests to skip the failure delay. */
  sleep?: (ms: number) => Promise<void>;
  /** limits.max_userip_connections over the node's counter; without it, no limit. */
  limits?: ConnectionLimits;
  /** proxy.source_ips, resolved at start. */
  sourceIps?: SourceIps;
  /** The per-backend disconnect counts; kept across reloads by passing the same one. */
  disconnects?: DisconnectSpread;
}

/** Steps 4 to 6 of a login: authenticate, decide the route, log in at the backend. */
export class LoginService {
  readonly #opts: LoginServiceOptions;
  readonly #policy: AuthPolicy;
  readonly #disconnects: DisconnectSpread;
  /** The chain logins are checked against, for SASL exchanges that need more than a password check. */
  get authenticator(): Authenticator {
    return this.#opts.authenticator;
  }

  constructor(opts: LoginServiceOptions) {
    this.#opts = opts;
    this.#policy = opts.policy ?? new AuthPolicy({ failureDelayMs: opts.failureDelayMs ?? 0, penalty: false, ...(opts.sleep ? { sleep: opts.sleep } : {}) });
    this.#disconnects = opts.disconnects ?? new DisconnectSpread();
  }

  /**
   * The address's penalty is waited out first; a failure raises it and waits auth.failure_delay
   * (unless `nodelay`); a login that gets through resets it. A backend refusing a forwarded
   * password counts as a failure too (Dovecot's auth process had already said yes).
   */
  async login(req: AuthRequest, proto: ProtocolLogin, log: Logger, signal?: AbortLike, authenticate?: () => Promise<AuthResult>): Promise<LoginOutcome> {
    const o = this.#opts;
    const attempt = await this.#policy.begin(req, signal);
    if (attempt.penaltyWaitMs > 0) log.info({ event: 'auth_penalty', user: req.user, level: attempt.penaltyLevel, ms: attempt.penaltyWaitMs }, 'login held by the failure penalty of its address');
    if (signal?.aborted) return { kind: 'authTempFail', reason: 'login abandoned: the client left or postern is stopping' };
    // A SASL exchange that consulted the chain itself (CRAM-MD5, SCRAM, OAuth, EXTERNAL) brings its verdict.
    const auth = await (authenticate ? authenticate() : o.authenticator.authenticate(req));
    if (auth.kind === 'tempFail') {
      log.warn({ event: 'auth_tempfail', user: req.user, reason: auth.reason }, 'temporary authentication failure');
      return { kind: 'authTempFail', reason: auth.reason };
    }
    if (auth.kind === 'fail') {
      log.info({ event: 'auth_failed', user: req.user, reason: auth.reason }, 'authentication failed');
      await attempt.failed(failureOf(req, auth.fields), signal);
      return { kind: 'authFailed', reason: auth.reason, ...(auth.message ? { message: auth.message } : {}) };
    }
    // The passdb said yes (Dovecot resets the penalty here), except where a backend still checks the password.
    const user = auth.user;
    const route = resolveRoute({
      user,
      fields: auth.fields,
      password: req.password,
      defaultPort: proto.defaultPort,
      defaultTlsPort: proto.defaultTlsPort,
      defaultTimeoutMs: o.proxy.timeout,
      isSelf: o.isSelf,
    });
    switch (route.kind) {
      case 'nologin':
        attempt.succeeded();
        await this.#policy.failureDelay(failureOf(req, auth.fields), signal);
        return { kind: 'nologin', user, ...(route.reason ? { reason: route.reason } : {}) };
      case 'referral':
        attempt.succeeded();
        return { kind: 'referral', user: route.user, host: route.host, nologin: route.nologin, ...(route.port ? { port: route.port } : {}), ...(route.reason ? { reason: route.reason } : {}) };
      case 'local':
        attempt.succeeded();
        log.warn({ event: 'no_local_store', user }, 'user is not proxied and no local mail store is configured');
        return { kind: 'local', user };
      case 'loop':
        log.error({ event: 'proxy_loop', user, detail: route.detail }, route.detail);
        return { kind: 'misrouted', user, detail: route.detail, loop: true };
      case 'invalid':
        log.error({ event: 'proxy_fields_invalid', user, detail: route.detail }, `passdb fields unusable: ${route.detail}`);
        return { kind: 'misrouted', user, detail: route.detail, loop: false };
      case 'proxy': {
        const target = route.target;
        const backend = `${target.host}:${target.port}`;
        // Counted from here to the session's end; login_trusted_networks (no-penalty peers) are exempt.
        const slot = o.limits ? await o.limits.login(proto.protocol, user, req.remoteIp, req.noPenalty === true) : undefined;
        if (slot?.kind === 'refused') {
          attempt.succeeded();
          log.info({ event: 'limit_reached', limit: 'userip', user, max: slot.max, protocol: proto.protocol }, `${proto.protocol} sessions of ${user} from ${req.remoteIp} reached limits.max_userip_connections=${slot.max}`);
          return { kind: 'limitReached', user, limit: 'userip', max: slot.max };
        }
        const outcome = await proxyConnect(target, () => proto.makeBackendLogin(target), {
          sourceIp: o.sourceIps?.next,
          maxReconnects: o.proxy.max_reconnects,
          reconnectIntervalMs: o.proxy.reconnect_interval,
          ca: o.backendCa,
          isSelf: o.isSelf,
          // A client the relay can carry: the relay dials the backend (running its TLS where it can) and carries the session.
          nativeDial: o.proxy.relay === 'auto' && proto.relayableClient === true,
          sessionReuse: o.proxy.ssl_session_reuse,
          signal,
          onRetry: (n, f) => log.info({ event: 'proxy_reconnect', user, backend, attempt: n, failure: f.kind, detail: f.detail }, 'reconnecting to backend'),
        });
        if (outcome.kind === 'failed') slot?.lease.release();
        if (outcome.kind === 'failed' && signal?.aborted) {
          log.info({ event: 'proxy_abandoned', user, backend }, outcome.failure.detail);
          return { kind: 'proxyFailed', user, target, failure: outcome.failure, attempts: outcome.attempts };
        }
        if (outcome.kind === 'failed') {
          const level = outcome.failure.kind === 'authRefused' ? 'info' : outcome.failure.kind === 'config' || outcome.failure.kind === 'internal' ? 'error' : 'warn';
          log[level]({ event: 'proxy_failed', user, backend, failure: outcome.failure.kind, detail: outcome.failure.detail, attempts: outcome.attempts }, 'proxy login failed');
          if (outcome.failure.kind === 'authRefused') await attempt.failed(failureOf(req, auth.fields), signal);
          return { kind: 'proxyFailed', user, target, failure: outcome.failure, attempts: outcome.attempts };
        }
        attempt.succeeded();
        const source = outcome.socket.localAddress;
        // A backend in TLS: whether its handshake resumed a session (proxy.ssl_session_reuse). The log leaves it out when undefined.
        const resumed = target.tls !== 'none' ? tlsResumed(outcome.socket) : undefined;
        log.info({ event: 'proxy_started', user, backend, ms: outcome.elapsedMs, attempts: outcome.attempts, source, tls_resumed: resumed }, 'started proxying');
        const ticket = this.#disconnects.connected(`${outcome.address}:${target.port}`);
        return {
          kind: 'proxied', user, fields: auth.fields, target, socket: outcome.socket, forwarded: outcome.forwarded, clientReply: outcome.clientReply, leftover: outcome.leftover, attempts: outcome.attempts, elapsedMs: outcome.elapsedMs,
          ...sessionHooks(ticket, slot?.lease, o.proxy.max_disconnect_delay),
        };
      }
      default: {
        const never: never = route;
        throw new Error(`unhandled route ${JSON.stringify(never)}`);
      }
    }
  }
}

/** What the penalty and the failure delay are told of a failed login; built only for one. */
function failureOf(req: AuthRequest, fields: Fields): FailureInfo {
  return { user: req.user, password: req.password, nodelay: fieldSet(fields, 'nodelay') };
}

/**
 * What a proxied session keeps of its login until it ends. Built outside login() so that these
 * closures hold only what they name, not the login's scope (the request, its password, the log).
 */
function sessionHooks(ticket: DisconnectTicket, lease: Lease | undefined, maxDelayMs: number): { clientCloseDelay?: () => number; release: () => void } {
  return {
    clientCloseDelay: maxDelayMs > 0 ? () => ticket.backendGone(maxDelayMs) : undefined,
    release: () => {
      ticket.closed();
      lease?.release();
    },
  };
}
