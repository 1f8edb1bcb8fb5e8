import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import type { AddressInfo } from 'node:net';
import { AuthCache, AuthPolicy, createConfiguredAuthenticator, offeredMechanisms, type Authenticator } from './auth/index.js';
import { AuthService } from './authserver/index.js';
import { adminToken, localAdminTarget, Observation, startAdminServer, type AdminServer } from './admin/index.js';
import { configPath, type LoadedConfig } from './config/index.js';
import { PosternError } from './core/index.js';
import { ImapLoginSession } from './imap/index.js';
import { Pop3LoginSession } from './pop3/index.js';
import { LmtpSession } from './lmtp/index.js';
import type { Logger } from './log/index.js';
import { LoginService, newSessionId, SessionRegistry, type TrackedSession } from './login/index.js';
import { registerPassdbDrivers } from './drivers.js';
import { createServerTls, Listener, localAddresses, NetworkList, type Connection, type ConnectionHandler, type ListenConfig, type ServerTls } from './net/index.js';

// The composition root: drivers outside auth/ (the imap passdb) exist before any configuration is read.
registerPassdbDrivers();

export interface RunningServer {
  /** Empties the auth cache (SIGHUP, `postern cache flush`); returns how many entries went. */
  flushAuthCache(): number;
  listeners: ReadonlyArray<{ label: string; protocol: string; address: AddressInfo }>;
  /** The open IMAP, POP3 and LMTP sessions. */
  sessions: SessionRegistry;
  /** Metrics and backend health, when the configuration has an admin section. */
  observation?: Observation;
  /** The admin API's address, when this server serves it. */
  admin?: AddressInfo;
  /** Stop accepting, end every session, release passdbs. */
  close(): Promise<void>;
}

export interface Prepared {
  tls: ServerTls | undefined;
  backendCa: Buffer | undefined;
  authenticator: Authenticator;
  /** The auth cache, when auth.cache_size is not 0. */
  cache: AuthCache | undefined;
  /** auth.mechanisms that the passdbs can verify: what IMAP, POP3 and the auth service offer. */
  mechanisms: string[];
  /** Things that work but are probably not what the operator meant (logged by serve, printed by check). */
  warnings: string[];
}

/**
 * Everything a configuration needs before a port is opened: certificates, the backend CA,
 * the passdbs. `postern check` runs this too, so a file it accepts starts.
 */
export function prepareServer(loaded: LoadedConfig, log: Logger): Prepared {
  const cfg = loaded.config;
  const resolvePath = (p: string) => configPath(loaded, p);
  for (const lc of cfg.listen) {
    if (lc.tls !== 'none' && !cfg.tls) {
      throw new PosternError('POSTERN_TLS_REQUIRED', `listener ${lc.name ?? `${lc.protocol}:${lc.port}`} uses tls: ${lc.tls} but the configuration has no tls section`);
    }
  }
  const tls: ServerTls | undefined = cfg.tls ? createServerTls(cfg.tls, resolvePath) : undefined;
  if (cfg.admin) adminToken(cfg.admin, resolvePath); // read now, so that `postern check` finds a missing token
  let backendCa: Buffer | undefined;
  if (cfg.proxy.ca_file) {
    try {
      backendCa = readFileSync(resolvePath(cfg.proxy.ca_file));
    } catch (err) {
      throw new PosternError('POSTERN_TLS_FILE', `cannot read proxy.ca_file ${cfg.proxy.ca_file}: ${(err as Error).message}`, { cause: err });
    }
  }
  const a = cfg.auth;
  const cache = a.cache_size > 0 ? new AuthCache({ maxBytes: a.cache_size, ttlMs: a.cache_ttl, negativeTtlMs: a.cache_negative_ttl }) : undefined;
  const deps = { log: log.child({ module: 'auth' }), baseDir: loaded.baseDir, ...(cache ? { cache } : {}) };
  const authenticator = createConfiguredAuthenticator(a, deps);
  // Dovecot offers every auth_mechanisms entry; postern only what a passdb can verify.
  const offer = offeredMechanisms(a.mechanisms, a, authenticator, { clientCertificates: tls?.certUsernameField !== undefined }, deps);
  const warnings = offer.unverifiable.map((u) => `auth.mechanisms: ${u.mech} is not offered: ${u.why}`);
  return { tls, backendCa, authenticator, cache, mechanisms: offer.offered, warnings };
}

/**
 * Builds everything a configuration describes and starts listening; the admin API too when
 * configured, unless `adminApi: false` (a cluster worker, whose primary serves it).
 */
export async function startServer(loaded: LoadedConfig, log: Logger, opts: { adminApi?: boolean } = {}): Promise<RunningServer> {
  const cfg = loaded.config;
  const prepared = prepareServer(loaded, log);
  const { backendCa, cache, mechanisms, warnings } = prepared;
  for (const w of warnings) log.warn({ event: 'config_warning' }, w);
  const sessions = new SessionRegistry();
  // With an admin section: logins, auth answers, TLS handshakes and session ends are counted.
  const observed = cfg.admin ? new Observation(sessions) : undefined;
  const authenticator = observed?.authenticator(prepared.authenticator) ?? prepared.authenticator;
  const tls = observed ? observed.tls(prepared.tls) : prepared.tls;
  const ownAddresses = localAddresses();
  const listeners: Listener[] = [];
  const isSelf = (host: string, port: number) =>
    listeners.some((l) => l.address().port === port && (ownAddresses.has(host) || host === 'localhost') && (l.config.address === '0.0.0.0' || l.config.address === '::' || l.config.address === host));
  // One failure delay and penalty table for every login of the process.
  const policy = new AuthPolicy({ failureDelayMs: cfg.auth.failure_delay, penalty: cfg.auth.penalty });
  const loginOptions = { authenticator, proxy: cfg.proxy, ...(backendCa ? { backendCa } : {}), policy, isSelf };
  const login = observed?.loginService(loginOptions) ?? new LoginService(loginOptions);
  // Postfix and Exim pass no client certificate identity: EXTERNAL is for IMAP and POP3 only.
  const trustedNetworks = new NetworkList(cfg.login_trusted_networks);
  const authService = new AuthService({ authenticator, mechanisms: mechanisms.filter((m) => m !== 'EXTERNAL'), policy, trustedNetworks, log });
  const common = {
    disablePlaintextAuth: cfg.auth.disable_plaintext_auth,
    mechanisms,
    trustedNetworks,
    login,
    idleTimeoutMs: cfg.proxy.idle_timeout,
    proxyTtl: cfg.proxy.ttl,
    log,
  };

  const sessionClosed = (protocol: 'imap' | 'pop3', session: TrackedSession, end: { bytesIn: number; bytesOut: number } | undefined) => {
    sessions.delete(session);
    observed?.sessionClosed(protocol, end);
  };
  const onImap = (conn: Connection) => {
    const session = new ImapLoginSession(conn, { ...common, imap: cfg.imap, onClose: (end) => sessionClosed('imap', session, end) });
    sessions.add(session);
    session.start();
  };
  const onPop3 = (conn: Connection) => {
    const session = new Pop3LoginSession(conn, { ...common, pop3: cfg.pop3, onClose: (end) => sessionClosed('pop3', session, end) });
    sessions.add(session);
    session.start();
  };
  const onLmtp = (conn: Connection) => {
    const id = newSessionId();
    const since = Date.now();
    const session = new LmtpSession(conn, {
      authenticator, hostname: cfg.lmtp.hostname ?? hostname(), maxMessageBytes: cfg.lmtp.max_message_size, idleTimeoutMs: cfg.lmtp.idle_timeout,
      proxyTimeoutMs: cfg.proxy.timeout, isSelf, session: id, proxyTtl: cfg.proxy.ttl, ...(backendCa ? { backendCa } : {}), log, onClose: () => sessions.delete(tracked),
    });
    const tracked: TrackedSession = {
      info: () => ({ id, protocol: 'lmtp', listener: conn.listener, rip: conn.remoteIp, rport: conn.remotePort, lip: conn.localIp, lport: conn.localPort, state: 'login', since, bytesIn: 0, bytesOut: 0 }),
      destroy: (reason) => session.destroy(reason),
    };
    sessions.add(tracked);
    session.start();
  };
  const frontFor = (protocol: ListenConfig['protocol']): ConnectionHandler => {
    switch (protocol) {
      case 'imap':
        return onImap;
      case 'pop3':
        return onPop3;
      case 'auth':
        return authService.accept;
      case 'lmtp':
        return onLmtp;
      default: {
        const never: never = protocol;
        throw new Error(`no front for protocol ${String(never)}`);
      }
    }
  };

  const listenerOptions = cfg.haproxy_trusted_networks.length > 0 ? { haproxyTrusted: new NetworkList(cfg.haproxy_trusted_networks) } : {};
  try {
    for (const lc of cfg.listen) {
      const listener = new Listener(lc.path !== undefined ? { ...lc, path: configPath(loaded, lc.path) } : lc, tls, frontFor(lc.protocol), log, listenerOptions);
      listeners.push(listener);
      const addr = await listener.listen();
      const where = addr.family === 'unix' ? addr.address : `${addr.address}:${addr.port}`;
      log.info({ event: 'listening', listener: listener.label, protocol: lc.protocol, address: addr.address, port: addr.port, tls: lc.tls }, `listening on ${where}`);
    }
  } catch (err) {
    for (const l of listeners) l.destroy();
    await authenticator.close();
    throw err;
  }

  let closed = false;
  let admin: AdminServer | undefined;
  const running: RunningServer = {
    listeners: listeners.map((l) => ({ label: l.label, protocol: l.config.protocol, address: l.address() })),
    sessions,
    ...(observed ? { observation: observed } : {}),
    flushAuthCache: () => cache?.flush() ?? 0,
    async close() {
      if (closed) return;
      closed = true;
      await admin?.close();
      // MTAs keep their auth connections open for good: end them (after any answer in flight), or the listeners never close.
      authService.close();
      await Promise.all(listeners.map((l) => l.close()));
      sessions.destroyAll('shutdown');
      authService.destroy();
      for (const l of listeners) l.destroy();
      await authenticator.close();
    },
  };
  if (cfg.admin && opts.adminApi !== false) {
    try {
      admin = await startAdminServer(cfg.admin, (p) => configPath(loaded, p), localAdminTarget(running), log);
    } catch (err) {
      await running.close();
      throw err;
    }
    running.admin = admin.address();
  }
  return running;
}
