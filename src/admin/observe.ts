import { performance } from 'node:perf_hooks';
import type { AuthRequest, Authenticator } from '../auth/index.js';
import { LoginService, type LoginOutcome, type LoginServiceOptions } from '../login/index.js';
import type { ServerTls } from '../net/index.js';
import { BackendHealthTracker } from './backends.js';
import { ServerMetrics, type SessionSource } from './metrics.js';

/** A LoginService whose every outcome is told to `seen`: one call after the login, nothing before. */
export class ObservedLoginService extends LoginService {
  readonly #seen: Observation;
  constructor(opts: LoginServiceOptions, seen: Observation) {
    super(opts);
    this.#seen = seen;
  }
  override async login(...args: Parameters<LoginService['login']>): Promise<LoginOutcome> {
    const outcome = await super.login(...args);
    this.#seen.loginDone(args[1].protocol, outcome, args[3]?.aborted === true);
    return outcome;
  }
}

/**
 * What one server counts for the admin API: its metrics and its backends' health, fed by
 * hooks the composition root (server.ts) puts around the login service, the authenticator,
 * the TLS listeners and the session registry. Nothing here is shared between servers.
 */
export class Observation {
  readonly metrics: ServerMetrics;
  readonly backends: BackendHealthTracker;

  constructor(sessions: SessionSource, opts: { defaultMetrics?: boolean; now?: () => number; accepting?: () => boolean } = {}) {
    this.metrics = new ServerMetrics(sessions, opts);
    this.backends = new BackendHealthTracker(opts.now);
  }

  loginService(opts: LoginServiceOptions): LoginService {
    return new ObservedLoginService(opts, this);
  }

  /** The same chain, with each answer timed. */
  authenticator(inner: Authenticator): Authenticator {
    const m = this.metrics;
    const timed = async <R extends { kind: string }>(req: AuthRequest, run: () => Promise<R>): Promise<R> => {
      const t0 = performance.now();
      const r = await run();
      m.auth(req.service, (performance.now() - t0) / 1000);
      return r;
    };
    const lookupCredentials = inner.lookupCredentials?.bind(inner);
    const lookupUser = inner.lookupUser?.bind(inner);
    return {
      authenticate: (req) => timed(req, () => inner.authenticate(req)),
      ...(lookupCredentials ? { lookupCredentials: (req: AuthRequest, scheme: string) => timed(req, () => lookupCredentials(req, scheme)) } : {}),
      ...(lookupUser ? { lookupUser: (req: AuthRequest) => timed(req, () => lookupUser(req)) } : {}),
      close: () => inner.close(),
    };
  }

  /** The server TLS with its failed handshakes counted, by listener. */
  tls(tls: ServerTls | undefined): ServerTls | undefined {
    return tls ? { ...tls, onHandshakeFailed: (listener) => this.metrics.tlsHandshakeFailed(listener) } : undefined;
  }

  /** A login is over; `abandoned` when the client left or postern stopped while it ran. */
  loginDone(protocol: 'imap' | 'pop3', outcome: LoginOutcome, abandoned: boolean): void {
    this.metrics.login(protocol, outcome.kind);
    if (outcome.kind === 'proxied') this.backends.succeeded(`${outcome.target.host}:${outcome.target.port}`);
    // A refused password is the user's, not the backend's; an abandoned login says nothing of the backend.
    else if (outcome.kind === 'proxyFailed' && !abandoned && outcome.failure.kind !== 'authRefused') {
      const backend = `${outcome.target.host}:${outcome.target.port}`;
      this.backends.failed(backend, outcome.failure);
      this.metrics.backendFailed(backend, outcome.failure.kind);
    }
  }

  /** A session left the registry; a proxied one brings its final byte counts. */
  sessionClosed(protocol: 'imap' | 'pop3' | 'lmtp', end: { bytesIn: number; bytesOut: number } | undefined): void {
    if (end) this.metrics.sessionEnded(protocol, end.bytesIn, end.bytesOut);
  }
}
