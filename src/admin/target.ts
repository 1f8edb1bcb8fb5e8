import { sessionMatcher, type SessionFilter, type SessionInfo, type SessionRegistry } from '../login/index.js';
import { NetworkList } from '../net/index.js';
import type { BackendHealth } from './backends.js';
import { promClient, type MetricsJson } from './metrics.js';
import type { Observation } from './observe.js';

export type ReloadResult = { ok: true } | { ok: false; error: string };

/**
 * What the admin HTTP API asks of the servers behind it: one server in this process
 * (localAdminTarget), or the primary of a cluster fanning each call out to its workers.
 */
export interface AdminTarget {
  sessions(filter: SessionFilter): Promise<SessionInfo[]>;
  /** Ends the matching sessions with the protocol's goodbye; how many. */
  kick(filter: SessionFilter): Promise<number>;
  /** Empties the auth cache; how many entries went. */
  flushCache(): Promise<number>;
  backends(): Promise<BackendHealth[]>;
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
  reload(): Promise<ReloadResult>;
}

/** The parts of a running server the admin API reads: RunningServer has them. */
export interface AdminSource {
  sessions: SessionRegistry;
  flushAuthCache(): number;
  /** Metrics and backend health; absent when the configuration has no admin section. */
  observation?: Observation;
  /** Reads the configuration file again and swaps it in (RunningServer.reloadFile). */
  reloadFile(trigger: string): Promise<ReloadResult>;
}

/** What one worker answers, synchronously where it can: for a cluster primary's IPC handlers. */
export interface WorkerAdmin {
  sessions(filter: SessionFilter): SessionInfo[];
  kick(filter: SessionFilter): number;
  flushCache(): number;
  backends(): BackendHealth[];
  /** prom-client JSON, to merge with aggregateMetrics. */
  metricsJson(): Promise<MetricsJson>;
}

/** The registry's matcher for a filter the API already checked (rip is an address or a CIDR). */
export function filterMatcher(filter: SessionFilter): (s: SessionInfo) => boolean {
  const net = filter.rip?.includes('/') ? new NetworkList([filter.rip]) : undefined;
  return sessionMatcher(filter, (ip) => net?.has(ip) ?? false);
}

export function workerAdmin(server: AdminSource): WorkerAdmin {
  return {
    sessions: (filter) => server.sessions.list(filterMatcher(filter)),
    kick: (filter) => server.sessions.kick(filterMatcher(filter)),
    flushCache: () => server.flushAuthCache(),
    backends: () => server.observation?.backends.list(server.sessions.list()) ?? [],
    metricsJson: async () => (server.observation ? server.observation.metrics.json() : []),
  };
}

/** The admin target of one server in this process. */
export function localAdminTarget(server: AdminSource): AdminTarget {
  const w = workerAdmin(server);
  return {
    sessions: async (filter) => w.sessions(filter),
    kick: async (filter) => w.kick(filter),
    flushCache: async () => w.flushCache(),
    backends: async () => w.backends(),
    metrics: async () => (server.observation ? server.observation.metrics.text() : ''),
    async reload() {
      const r = await server.reloadFile('admin reload').catch((err: unknown) => ({ ok: false as const, error: (err as Error).message }));
      return r.ok ? { ok: true } : { ok: false, error: r.error };
    },
  };
}

/** The workers' metrics as one exposition: counters and gauges summed (prom-client's cluster aggregation). */
export function aggregateMetrics(perWorker: readonly MetricsJson[]): Promise<string> {
  return promClient().AggregatorRegistry.aggregate(perWorker as unknown as object[]).metrics();
}
