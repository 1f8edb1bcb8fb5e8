import { hostname } from 'node:os';
import { AuthPolicy } from '../auth/index.js';
import { AuthService } from '../authserver/index.js';
import type { Observation } from '../admin/index.js';
import type { ServerTls } from '../net/index.js';
import type { Config, LoadedConfig } from '../config/index.js';
import { ImapLoginSession } from '../imap/index.js';
import { LmtpSession } from '../lmtp/index.js';
import type { Logger } from '../log/index.js';
import { admitted, FrontSasl, LoginService, newSessionId, type SessionRegistry, type TrackedSession } from '../login/index.js';
import { ConnectionLimits, NetworkList, nodeConnection, type Connection, type ConnectionCounter, type ConnectionHandler, type ListenConfig } from '../net/index.js';
import { SourceIps, type DisconnectSpread } from '../proxy/index.js';
import { Pop3LoginSession } from '../pop3/index.js';
import { prepareServer, type Prepared } from './prepare.js';

/** What every generation shares with the server around it. */
export interface GenerationDeps {
  sessions: SessionRegistry;
  /** host:port is one of our own listeners (the listeners of the moment). */
  isSelf(host: string, port: number): boolean;
  log: Logger;
  /** Where IMAP and POP3 connections are counted (limits:): the counts outlive a generation. */
  counter: ConnectionCounter;
  /** The per-backend disconnect counts (proxy.max_disconnect_delay), kept across reloads. */
  disconnects: DisconnectSpread;
  /** Metrics and backend health, when the configuration has an admin section. */
  observation?: Observation;
  /** The previous generation's policy, kept when its settings did not change (a reload keeps the penalty table). */
  previousPolicy?: { policy: AuthPolicy; cfg: Config['auth'] };
}

/**
 * One configuration brought to life: certificates, passdbs, the login service and a front per
 * protocol. A reload builds a new generation for new connections; the sessions the old one
 * started keep what they were given until they end.
 */
export class Generation {
  readonly loaded: LoadedConfig;
  readonly prepared: Prepared;
  readonly policy: AuthPolicy;
  readonly authService: AuthService;
  readonly haproxyTrusted: NetworkList | undefined;
  /** The listeners' TLS (with failed handshakes counted when observed). */
  readonly tls: ServerTls | undefined;
  /** Sessions this generation started and that are still open. */
  readonly started = new Set<TrackedSession>();
  readonly #deps: GenerationDeps;
  readonly #handlers: Record<ListenConfig['protocol'], ConnectionHandler>;

  /** Builds a generation; proxy.source_ips are resolved first (a name may stand for several addresses). */
  static async create(loaded: LoadedConfig, deps: GenerationDeps): Promise<Generation> {
    const ips = loaded.config.proxy.source_ips;
    const sourceIps = ips.length > 0 ? await SourceIps.resolve(ips) : undefined;
    if (sourceIps) deps.log.info({ event: 'source_ips', addresses: sourceIps.addresses }, `backend connects from ${sourceIps.addresses.join(', ') || 'the system default: no proxy.source_ips address is on this machine'}`);
    return new Generation(loaded, deps, sourceIps);
  }

  private constructor(loaded: LoadedConfig, deps: GenerationDeps, sourceIps: SourceIps | undefined) {
    const cfg = loaded.config;
    this.loaded = loaded;
    this.#deps = deps;
    const { log, isSelf } = deps;
    const seen = deps.observation;
    this.prepared = prepareServer(loaded, log, seen ? { onPassdbError: (passdb) => seen.metrics.passdbError(passdb) } : {});
    const { backendCa, mechanisms } = this.prepared;
    const authenticator = seen?.authenticator(this.prepared.authenticator) ?? this.prepared.authenticator;
    this.tls = seen ? seen.tls(this.prepared.tls) : this.prepared.tls;
    const prev = deps.previousPolicy;
    const samePolicy = prev !== undefined && prev.cfg.failure_delay === cfg.auth.failure_delay && prev.cfg.penalty === cfg.auth.penalty;
    // One failure delay and penalty table for every login of the process.
    this.policy = samePolicy ? prev.policy : new AuthPolicy({ failureDelayMs: cfg.auth.failure_delay, penalty: cfg.auth.penalty });
    const limits = new ConnectionLimits(deps.counter, cfg.limits);
    const loginOptions = { authenticator, proxy: cfg.proxy, ...(backendCa ? { backendCa } : {}), policy: this.policy, isSelf, limits, disconnects: deps.disconnects, ...(sourceIps ? { sourceIps } : {}) };
    const login = seen?.loginService(loginOptions) ?? new LoginService(loginOptions);
    const trustedNetworks = new NetworkList(cfg.login_trusted_networks);
    this.haproxyTrusted = cfg.haproxy_trusted_networks.length > 0 ? new NetworkList(cfg.haproxy_trusted_networks) : undefined;
    // Postfix and Exim pass no client certificate identity: EXTERNAL is for IMAP and POP3 only.
    this.authService = new AuthService({ authenticator, mechanisms: mechanisms.filter((m) => m !== 'EXTERNAL'), policy: this.policy, trustedNetworks, log });
    const plaintext = { disablePlaintextAuth: cfg.auth.disable_plaintext_auth, trustedNetworks };
    // What every IMAP and POP3 session of this configuration shares, built once rather than per connection.
    const common = {
      ...plaintext,
      sasl: new FrontSasl(mechanisms, plaintext),
      login,
      idleTimeoutMs: cfg.proxy.idle_timeout,
      proxyTtl: cfg.proxy.ttl,
      relay: cfg.proxy.relay,
      log,
    };
    const imapDeps = { ...common, imap: cfg.imap };
    const pop3Deps = { ...common, pop3: cfg.pop3 };
    const lmtpHost = cfg.lmtp.hostname ?? hostname();
    const lmtpSourceIp = sourceIps?.next;
    // Each IMAP and POP3 connection first takes its place under limits: (see login/admission).
    const admission = { limits: () => limits, trustedNetworks, log };
    this.#handlers = {
      imap: admitted('imap', admission, ImapLoginSession.refuse, (conn, release) =>
        this.#track((onClose) => new ImapLoginSession(conn, imapDeps, (end) => (onClose(), release(), seen?.sessionClosed('imap', end)))),
      ),
      pop3: admitted('pop3', admission, Pop3LoginSession.refuse, (conn, release) =>
        this.#track((onClose) => new Pop3LoginSession(conn, pop3Deps, (end) => (onClose(), release(), seen?.sessionClosed('pop3', end)))),
      ),
      auth: this.authService.accept,
      lmtp: (conn) => {
        const id = newSessionId();
        const since = Date.now();
        this.#track((onClose) => {
          const session = new LmtpSession(nodeConnection(conn), {
            authenticator, hostname: lmtpHost, maxMessageBytes: cfg.lmtp.max_message_size, idleTimeoutMs: cfg.lmtp.idle_timeout,
            proxyTimeoutMs: cfg.proxy.timeout, isSelf, session: id, proxyTtl: cfg.proxy.ttl, ...(backendCa ? { backendCa } : {}), log, onClose,
            trustedNetworks, maxRecipients: cfg.lmtp.max_recipients, maxBadCommands: cfg.lmtp.max_bad_commands,
            maxReconnects: cfg.proxy.max_reconnects, reconnectIntervalMs: cfg.proxy.reconnect_interval,
            ...(lmtpSourceIp ? { sourceIp: lmtpSourceIp } : {}),
          });
          return {
            info: () => ({ id, protocol: 'lmtp', listener: conn.listener, rip: conn.remoteIp, rport: conn.remotePort, lip: conn.localIp, lport: conn.localPort, state: 'login', since, bytesIn: 0, bytesOut: 0 }),
            destroy: (reason) => session.goodbye(reason),
            start: () => session.start(),
          };
        });
      },
    };
  }

  get config(): Config {
    return this.loaded.config;
  }

  handler(protocol: ListenConfig['protocol']): ConnectionHandler {
    return this.#handlers[protocol];
  }

  #track(make: (onClose: () => void) => TrackedSession & { start(): void }): void {
    const { sessions } = this.#deps;
    const session = make(() => {
      sessions.delete(session);
      this.started.delete(session);
    });
    sessions.add(session);
    this.started.add(session);
    session.start();
  }

  /** No session of this generation still needs its passdbs: each one is proxying or gone. */
  get idle(): boolean {
    for (const s of this.started) if (s.info().state !== 'proxying') return false;
    return true;
  }

  /** Releases the passdbs (their pools and connections). */
  async close(): Promise<void> {
    this.authService.destroy();
    await this.prepared.authenticator.close();
  }
}

export type { Connection };
