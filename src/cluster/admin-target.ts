import { aggregateMetrics, mergeBackendHealth, type AdminTarget, type BackendHealth, type MetricsJson } from '../admin/index.js';
import type { SessionInfo } from '../login/index.js';
import type { Primary } from './primary.js';

/** The admin API of a cluster: each call asked of every worker, the answers put together. */
export function clusterAdminTarget(primary: Primary): AdminTarget {
  const values = async <T>(what: string, arg?: unknown): Promise<T[]> => (await primary.ask(what, arg)).flatMap((a) => (a.ok ? [a.value as T] : []));
  const sum = (ns: number[]) => ns.reduce((a, b) => a + b, 0);
  return {
    sessions: async (filter) => (await values<SessionInfo[]>('sessions', filter)).flat(),
    kick: async (filter) => sum(await values<number>('kick', filter)),
    flushCache: async () => sum(await values<number>('flushCache')),
    backends: async () => mergeBackendHealth(await values<BackendHealth[]>('backends')),
    metrics: async () => aggregateMetrics(await values<MetricsJson>('metricsJson')),
    reload: () => primary.reload(),
  };
}
