import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { createAuthenticator, type Authenticator } from './auth/index.js';
import { configPath, type LoadedConfig } from './config/index.js';
import { PosternError } from './core/index.js';
import { ImapLoginSession } from './imap/index.js';
import { Pop3LoginSession } from './pop3/index.js';
import type { Logger } from './log/index.js';
import { LoginService } from './login/index.js';
import { createServerTls, Listener, localAddresses, NetworkList, type Connection, type ConnectionHandler, type ListenConfig, type ServerTls } from './net/index.js';

export interface RunningServer {
  listeners: ReadonlyArray<{ label: string; protocol: string; address: AddressInfo }>;
  /** Stop accepting, end every session, release passdbs. */
  close(): Promise<void>;
}

export interface Prepared {
  tls: ServerTls | undefined;
  backendCa: Buffer | undefined;
  authenticator: Authenticator;
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
  let backendCa: Buffer | undefined;
  if (cfg.proxy.ca_file) {
    try {
      backendCa = readFileSync(resolvePath(cfg.proxy.ca_file));
    } catch (err) {
      throw new PosternError('POSTERN_TLS_FILE', `cannot read proxy.ca_file ${cfg.proxy.ca_file}: ${(err as Error).message}`, { cause: err });
    }
  }
  const authenticator = createAuthenticator(cfg.auth.passdb, { log: log.child({ module: 'auth' }), baseDir: loaded.baseDir });
  return { tls, backendCa, authenticator };
}

/** Builds everything a configuration describes and starts listening. */
export async function startServer(loaded: LoadedConfig, log: Logger): Promise<RunningServer> {
  const cfg = loaded.config;
  const { tls, backendCa, authenticator } = prepareServer(loaded, log);
  const ownAddresses = localAddresses();
  const listeners: Listener[] = [];
  const isSelf = (host: string, port: number) =>
    listeners.some((l) => l.address().port === port && (ownAddresses.has(host) || host === 'localhost') && (l.config.address === '0.0.0.0' || l.config.address === '::' || l.config.address === host));
  const login = new LoginService({ authenticator, proxy: cfg.proxy, ...(backendCa ? { backendCa } : {}), failureDelayMs: cfg.auth.failure_delay, isSelf });
  const trustedNetworks = new NetworkList(cfg.login_trusted_networks);
  const sessions = new Set<{ destroy(reason: 'shutdown' | 'kicked'): void }>();
  const common = {
    disablePlaintextAuth: cfg.auth.disable_plaintext_auth,
    mechanisms: cfg.auth.mechanisms,
    trustedNetworks,
    login,
    idleTimeoutMs: cfg.proxy.idle_timeout,
    proxyTtl: cfg.proxy.ttl,
    log,
  };

  const onImap = (conn: Connection) => {
    const session = new ImapLoginSession(conn, { ...common, imap: cfg.imap, onClose: () => sessions.delete(session) });
    sessions.add(session);
    session.start();
  };
  const onPop3 = (conn: Connection) => {
    const session = new Pop3LoginSession(conn, { ...common, pop3: cfg.pop3, onClose: () => sessions.delete(session) });
    sessions.add(session);
    session.start();
  };
  const frontFor = (protocol: ListenConfig['protocol']): ConnectionHandler => {
    switch (protocol) {
      case 'imap':
        return onImap;
      case 'pop3':
        return onPop3;
      default: {
        const never: never = protocol;
        throw new Error(`no front for protocol ${String(never)}`);
      }
    }
  };

  try {
    for (const lc of cfg.listen) {
      const listener = new Listener(lc, tls, frontFor(lc.protocol), log);
      listeners.push(listener);
      const addr = await listener.listen();
      log.info({ event: 'listening', listener: listener.label, protocol: lc.protocol, address: addr.address, port: addr.port, tls: lc.tls }, `listening on ${addr.address}:${addr.port}`);
    }
  } catch (err) {
    for (const l of listeners) l.destroy();
    await authenticator.close();
    throw err;
  }

  let closed = false;
  return {
    listeners: listeners.map((l) => ({ label: l.label, protocol: l.config.protocol, address: l.address() })),
    async close() {
      if (closed) return;
      closed = true;
      await Promise.all(listeners.map((l) => l.close()));
      for (const s of sessions) s.destroy('shutdown');
      for (const l of listeners) l.destroy();
      await authenticator.close();
    },
  };
}
