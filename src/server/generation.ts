import { hostname } from 'node:os';
import { AuthPolicy } from '../auth/index.js';
import { AuthService } from '../authserver/index.js';
import type { Config, LoadedConfig } from '../config/index.js';
import { ImapLoginSession } from '../imap/index.js';
import { LmtpSession } from '../lmtp/index.js';
import type { Logger } from '../log/index.js';
import { LoginService, newSessionId, type SessionRegistry, type TrackedSession } from '../login/index.js';
import { NetworkList, type Connection, type ConnectionHandler, type ListenConfig } from '../net/index.js';
import { Pop3LoginSession } from '../pop3/index.js';
import { prepareServer, type Prepared } from './prepare.js';

/** What every generation shares with the server around it. */
export interface GenerationDeps {
  sessions: SessionRegistry;
  /** host:port is one of our own listeners (the listeners of the moment). */
  isSelf(host: string, port: number): boolean;
  log: Logger;
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
  /** Sessions this generation started and that are still open. */
  readonly started = new Set<TrackedSession>();
  readonly #deps: GenerationDeps;
  readonly #handlers: Record<ListenConfig['protocol'], ConnectionHandler>;

  constructor(loaded: LoadedConfig, deps: GenerationDeps) {
    const cfg = loaded.config;
    this.loaded = loaded;
    this.#deps = deps;
    const { log, isSelf } = deps;
    this.prepared = prepareServer(loaded, log);
    const { authenticator, backendCa, mechanisms } = this.prepared;
    const prev = deps.previousPolicy;
    const samePolicy = prev !== undefined && prev.cfg.failure_delay === cfg.auth.failure_delay && prev.cfg.penalty === cfg.auth.penalty;
    // One failure delay and penalty table for every login of the process.
    this.policy = samePolicy ? prev.policy : new AuthPolicy({ failureDelayMs: cfg.auth.failure_delay, penalty: cfg.auth.penalty });
    const login = new LoginService({ authenticator, proxy: cfg.proxy, ...(backendCa ? { backendCa } : {}), policy: this.policy, isSelf });
    const trustedNetworks = new NetworkList(cfg.login_trusted_networks);
    this.haproxyTrusted = cfg.haproxy_trusted_networks.length > 0 ? new NetworkList(cfg.haproxy_trusted_networks) : undefined;
    // Postfix and Exim pass no client certificate identity: EXTERNAL is for IMAP and POP3 only.
    this.authService = new AuthService({ authenticator, mechanisms: mechanisms.filter((m) => m !== 'EXTERNAL'), policy: this.policy, trustedNetworks, log });
    const common = {
      disablePlaintextAuth: cfg.auth.disable_plaintext_auth,
      mechanisms,
      trustedNetworks,
      login,
      idleTimeoutMs: cfg.proxy.idle_timeout,
      proxyTtl: cfg.proxy.ttl,
      log,
    };
    const lmtpHost = cfg.lmtp.hostname ?? hostname();
    this.#handlers = {
      imap: (conn) => this.#track((onClose) => new ImapLoginSession(conn, { ...common, imap: cfg.imap, onClose })),
      pop3: (conn) => this.#track((onClose) => new Pop3LoginSession(conn, { ...common, pop3: cfg.pop3, onClose })),
      auth: this.authService.accept,
      lmtp: (conn) => {
        const id = newSessionId();
        const since = Date.now();
        this.#track((onClose) => {
          const session = new LmtpSession(conn, {
            authenticator, hostname: lmtpHost, maxMessageBytes: cfg.lmtp.max_message_size, idleTimeoutMs: cfg.lmtp.idle_timeout,
            proxyTimeoutMs: cfg.proxy.timeout, isSelf, session: id, proxyTtl: cfg.proxy.ttl, ...(backendCa ? { backendCa } : {}), log, onClose,
            trustedNetworks, maxRecipients: cfg.lmtp.max_recipients, maxBadCommands: cfg.lmtp.max_bad_commands,
            maxReconnects: cfg.proxy.max_reconnects, reconnectIntervalMs: cfg.proxy.reconnect_interval,
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
