import type { AddressInfo } from 'node:net';
import { localAdminTarget, Observation, reloadAdminServer, startAdminServer, type AdminServer } from '../admin/index.js';
import { configPath, loadConfig, type Config, type LoadedConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { SessionRegistry } from '../login/index.js';
import { registerPassdbDrivers } from '../drivers.js';
import { InProcessCounter, Listener, listeningAt, localAddresses, type ConnectionCounter, type ListenConfig } from '../net/index.js';
import { DisconnectSpread } from '../proxy/index.js';
import { applyCpuScheduling } from './cpu-scheduling.js';
import { Generation, type GenerationDeps } from './generation.js';

// The composition root: drivers outside auth/ (the imap passdb) exist before any configuration is read.
registerPassdbDrivers();

export type ReloadResult = { ok: true; listeners: { opened: string[]; closed: string[]; kept: string[] } } | { ok: false; error: string };

export interface RunningServer {
  /** Empties the auth cache (`postern cache flush`); returns how many entries went. */
  flushAuthCache(): number;
  listeners: ReadonlyArray<{ label: string; protocol: string; address: AddressInfo }>;
  /** The open IMAP, POP3 and LMTP sessions. */
  sessions: SessionRegistry;
  /** The configuration new connections get. */
  readonly config: Config;
  /** Metrics and backend health, when the configuration (at start) has an admin section. */
  observation?: Observation;
  /** The admin API's address, when this server serves it. */
  admin?: AddressInfo;
  /**
   * Reads the configuration file again and reloads it; the auth cache goes with the old one.
   * `trigger` (SIGHUP, an admin request) is named in the log line.
   */
  reloadFile(trigger: string): Promise<ReloadResult>;
  /**
   * New certificates, passdbs, routes, limits and listeners for new connections; open sessions
   * keep running as they are. A configuration that cannot be built is refused and the running one stays.
   */
  reload(next: LoadedConfig): Promise<ReloadResult>;
  /**
   * Graceful stop: stop accepting, let sessions run until they end or `deadlineMs` passes,
   * then end the rest with the protocol's goodbye.
   */
  shutdown(deadlineMs: number): Promise<void>;
  /** Stop accepting, end every session now, release passdbs. */
  close(): Promise<void>;
  /**
   * A cluster worker held back (process.accept: gather) leaves new IMAP and POP3 connections to the
   * workers that accept; listeners a reload opens follow the same state.
   */
  holdAccepts(held: boolean): void;
}

/**
 * What makes two listener entries the same bound socket, kept across a reload. An open listener
 * is keyed by the port it got, so `port: 0` (tests) followed by that port is the same one.
 */
function listenerKey(lc: ListenConfig, loaded: LoadedConfig, boundPort?: number): string {
  return JSON.stringify([lc.protocol, lc.path !== undefined ? configPath(loaded, lc.path) : `${lc.address}:${boundPort ?? lc.port}`, lc.tls, lc.haproxy ?? false, lc.mode, lc.user, lc.group, lc.name]);
}

/** How often a retired generation is checked for sessions still logging in, and for how long at most. */
const RETIRE_POLL_MS = 1000;
const RETIRE_MAX_MS = 10 * 60_000;

/** Builds everything a configuration describes and starts listening. */
export interface StartOptions {
  /** A cluster worker: listeners are shared through the primary (see net/Listener). */
  clustered?: boolean;
  /** Where IMAP and POP3 connections are counted for `limits:`; a cluster worker passes one that asks the primary. */
  counter?: ConnectionCounter;
  /** Serve the admin API when configured (default); a cluster worker does not, its primary does. */
  adminApi?: boolean;
}

export async function startServer(loaded: LoadedConfig, log: Logger, opts: StartOptions = {}): Promise<RunningServer> {
  const ownAddresses = localAddresses();
  const sessions = new SessionRegistry();
  const listeners = new Map<string, Listener>();
  let acceptsHeld = false;
  // Asked on every proxied login: no copy of the listener list.
  const isSelf = (host: string, port: number) => {
    if (!ownAddresses.has(host) && host !== 'localhost') return false;
    for (const l of listeners.values()) {
      if (l.address().port === port && (l.config.address === '0.0.0.0' || l.config.address === '::' || l.config.address === host)) return true;
    }
    return false;
  };
  // With an admin section: logins, auth answers, TLS handshakes and session ends are counted, across
  // reloads; from the reload that adds the section on, when it comes later.
  const shared: GenerationDeps = { sessions, isSelf, log, counter: opts.counter ?? new InProcessCounter(), disconnects: new DisconnectSpread() };
  if (loaded.config.admin) shared.observation = new Observation(sessions, { accepting: () => !acceptsHeld });
  let current = await Generation.create(loaded, shared);
  for (const w of current.prepared.warnings) log.warn({ event: 'config_warning' }, w);
  applyCpuScheduling(current.config.process.cpu_scheduling, log);
  const retired = new Set<Generation>();

  /** Opens the listeners of `gen` not open yet; on failure closes those it opened and throws. */
  const openListeners = async (gen: Generation): Promise<Listener[]> => {
    const opened: Listener[] = [];
    try {
      for (const lc of gen.config.listen) {
        const key = listenerKey(lc, gen.loaded);
        if (listeners.has(key)) continue;
        const protocol = lc.protocol;
        // The listener asks the generation of the moment, so a reload reaches it without a rebind.
        const listener = new Listener(lc.path !== undefined ? { ...lc, path: configPath(gen.loaded, lc.path) } : lc, gen.tls, (conn) => current.handler(protocol)(conn), log, {
          ...(gen.haproxyTrusted ? { haproxyTrusted: gen.haproxyTrusted } : {}),
          clustered: opts.clustered ?? false,
          // IMAP and POP3 connections are accepted by the native relay (which also runs their TLS) and carried by it after login.
          nativeAccept: (protocol === 'imap' || protocol === 'pop3') && gen.config.proxy.relay === 'auto',
        });
        opened.push(listener);
        listener.hold(acceptsHeld);
        const addr = await listener.listen();
        listeners.set(lc.path !== undefined ? key : listenerKey(lc, gen.loaded, addr.port), listener);
        log.info({ event: 'listening', listener: listener.label, protocol, address: addr.address, port: addr.port, tls: lc.tls }, `listening on ${listeningAt(addr)}`);
      }
    } catch (err) {
      for (const l of opened) {
        l.destroy();
        for (const [k, v] of listeners) if (v === l) listeners.delete(k);
      }
      throw err;
    }
    return opened;
  };

  /** The old generation's MTA connections are ended gracefully; its passdbs go once no session of it still logs in. */
  const retire = (gen: Generation) => {
    retired.add(gen);
    gen.authService.close();
    const since = Date.now();
    const check = () => {
      if (!retired.has(gen)) return;
      if (!gen.idle && Date.now() - since < RETIRE_MAX_MS) {
        setTimeout(check, RETIRE_POLL_MS).unref();
        return;
      }
      retired.delete(gen);
      void gen.close().catch((err: unknown) => log.warn({ event: 'passdb_close_failed', err: (err as Error).message }, 'closing the passdbs of the previous configuration failed'));
    };
    check();
  };

  try {
    await openListeners(current);
  } catch (err) {
    await current.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  let admin: AdminServer | undefined;
  const closeAll = () =>
    (closing ??= (async () => {
      await admin?.close();
      for (const gen of [current, ...retired]) gen.authService.close();
      // A listener's close() resolves once its connections are gone: those are ended next.
      const closed = Promise.all([...listeners.values()].map((l) => l.close()));
      sessions.destroyAll('shutdown');
      for (const l of listeners.values()) l.destroy();
      await closed;
      for (const gen of [current, ...retired]) await gen.close();
      retired.clear();
    })());

  const server: RunningServer = {
    holdAccepts(held) {
      acceptsHeld = held;
      for (const l of listeners.values()) l.hold(held);
    },
    get listeners() {
      return [...listeners.values()].map((l) => ({ label: l.label, protocol: l.config.protocol, address: l.address() }));
    },
    sessions,
    get observation() {
      return shared.observation;
    },
    get config() {
      return current.config;
    },
    flushAuthCache: () => current.prepared.cache?.flush() ?? 0,

    async reloadFile(trigger) {
      const entries = server.flushAuthCache();
      log.info({ event: 'auth_cache_flushed', trigger, entries }, `${trigger} received, ${entries} cache entries flushed`);
      let next: LoadedConfig;
      try {
        next = loadConfig(current.loaded.file);
      } catch (err) {
        log.error({ event: 'reload_failed', config: current.loaded.file, err: (err as Error).message }, `reload refused, the running configuration stays: ${(err as Error).message}`);
        return { ok: false, error: (err as Error).message };
      }
      return server.reload(next);
    },

    async reload(next) {
      if (closing) return { ok: false, error: 'postern is stopping' };
      let gen: Generation;
      if (next.config.admin && !shared.observation) shared.observation = new Observation(sessions, { accepting: () => !acceptsHeld });
      try {
        gen = await Generation.create(next, { ...shared, previousPolicy: { policy: current.policy, cfg: current.config.auth } });
      } catch (err) {
        log.error({ event: 'reload_failed', config: next.file, err: (err as Error).message }, `reload refused, the running configuration stays: ${(err as Error).message}`);
        return { ok: false, error: (err as Error).message };
      }
      let fresh: Listener[];
      try {
        fresh = await openListeners(gen);
      } catch (err) {
        await gen.close();
        log.error({ event: 'reload_failed', config: next.file, err: (err as Error).message }, `reload refused, the running configuration stays: ${(err as Error).message}`);
        return { ok: false, error: (err as Error).message };
      }
      const wanted = new Set(gen.config.listen.map((lc) => listenerKey(lc, gen.loaded)));
      const closed: string[] = [];
      const kept: string[] = [];
      for (const [key, l] of listeners) {
        // (One just opened for `port: 0` is keyed by the port it got, which the configuration does not name.)
        if (fresh.includes(l)) continue;
        if (!wanted.has(key)) {
          // Stops accepting; the sessions it accepted go on.
          void l.close();
          listeners.delete(key);
          closed.push(l.label);
        } else {
          l.update(gen.tls, gen.haproxyTrusted);
          kept.push(l.label);
        }
      }
      const opened = fresh.map((l) => l.label);
      // A single process has no primary to start or stop workers (see cluster/Primary for the rest).
      if (!opts.clustered && next.config.process.workers !== current.config.process.workers) log.warn({ event: 'config_warning' }, 'process.workers changed: postern runs as one process, without a primary; it takes effect when postern restarts');
      const old = current;
      current = gen;
      if (gen.config.process.cpu_scheduling !== old.config.process.cpu_scheduling) applyCpuScheduling(gen.config.process.cpu_scheduling, log);
      retire(old);
      for (const w of gen.prepared.warnings) log.warn({ event: 'config_warning' }, w);
      // A cluster's primary serves the admin API (cluster/Primary reloads it).
      if (opts.adminApi !== false) {
        admin = await reloadAdminServer(admin, old.config.admin, gen.config.admin, (p) => configPath(gen.loaded, p), localAdminTarget(server), log);
        if (admin) server.admin = admin.address();
        else delete server.admin;
      }
      log.info({ event: 'reloaded', config: next.file, opened, closed, kept, sessions: sessions.size }, 'configuration reloaded');
      return { ok: true, listeners: { opened, closed, kept } };
    },

    async shutdown(deadlineMs) {
      if (closing) return closing;
      await admin?.close();
      for (const gen of [current, ...retired]) gen.authService.close();
      for (const l of listeners.values()) void l.close();
      const open = sessions.size;
      log.info({ event: 'draining', sessions: open, deadline_ms: deadlineMs }, `no longer accepting; ${open} sessions may run ${deadlineMs} ms more`);
      const until = Date.now() + deadlineMs;
      while (sessions.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, Math.min(100, until - Date.now())));
      if (sessions.size > 0) log.info({ event: 'drain_deadline', sessions: sessions.size }, `deadline reached, ending ${sessions.size} sessions`);
      sessions.destroyAll('shutdown');
      // The goodbyes are flushed before the sockets go; a session still waiting on its client after
      // 2 s is closed at once by closeAll (a second goodbye), and logged before the process exits.
      const flushUntil = Date.now() + 2000;
      while (sessions.size > 0 && Date.now() < flushUntil) await new Promise((r) => setTimeout(r, 20));
      return closeAll();
    },

    close: closeAll,
  };
  if (loaded.config.admin && opts.adminApi !== false) {
    try {
      admin = await startAdminServer(loaded.config.admin, (p) => configPath(loaded, p), localAdminTarget(server), log);
    } catch (err) {
      await server.close();
      throw err;
    }
    server.admin = admin.address();
  }
  return server;
}
