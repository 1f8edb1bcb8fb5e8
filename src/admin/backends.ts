import type { ProxyFailure } from '../proxy/index.js';
import type { SessionInfo } from '../login/index.js';

/** What `GET /backends` tells of one backend, as this server (or the merged cluster) saw it. */
export interface BackendHealth {
  /** host:port as the passdb named it. */
  backend: string;
  /** Proxied sessions open to it now. */
  sessions: number;
  /** Backend logins that succeeded, since start. */
  logins: number;
  /** Backend logins that failed for the backend's sake (every kind but authRefused), since start. */
  failures: number;
  /** Of those, how many in the last RECENT_WINDOW_MS. */
  recentFailures: number;
  /** Failures since the last success: a backend that is down keeps counting up. */
  consecutiveFailures: number;
  /** ms since the epoch. */
  lastSuccess?: number;
  lastFailure?: { at: number; kind: ProxyFailure['kind']; detail: string };
}

/** "Recent" failures: the last five minutes. */
export const RECENT_WINDOW_MS = 5 * 60_000;
/** Backends remembered; the one seen longest ago goes first (passdbs name a bounded set in practice). */
const MAX_BACKENDS = 4096;
/** Failure times kept per backend for the recent count. */
const MAX_RECENT = 256;

interface Entry {
  logins: number;
  failures: number;
  consecutive: number;
  recent: number[];
  lastSuccess?: number;
  lastFailure?: BackendHealth['lastFailure'];
}

/** Backend health from the outcomes of proxied logins. */
export class BackendHealthTracker {
  readonly #entries = new Map<string, Entry>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  succeeded(backend: string): void {
    const e = this.#entry(backend);
    e.logins++;
    e.consecutive = 0;
    e.lastSuccess = this.#now();
  }

  failed(backend: string, failure: ProxyFailure): void {
    const e = this.#entry(backend);
    const at = this.#now();
    e.failures++;
    e.consecutive++;
    e.recent.push(at);
    if (e.recent.length > MAX_RECENT) e.recent.shift();
    e.lastFailure = { at, kind: failure.kind, detail: failure.detail };
  }

  /** Every backend seen, and those the open sessions use, sorted by name. */
  list(open: readonly SessionInfo[]): BackendHealth[] {
    const now = this.#now();
    const sessions = new Map<string, number>();
    for (const s of open) if (s.backend !== undefined) sessions.set(s.backend, (sessions.get(s.backend) ?? 0) + 1);
    const names = new Set([...this.#entries.keys(), ...sessions.keys()]);
    return [...names].sort().map((backend) => {
      const e = this.#entries.get(backend);
      return {
        backend,
        sessions: sessions.get(backend) ?? 0,
        logins: e?.logins ?? 0,
        failures: e?.failures ?? 0,
        recentFailures: e ? e.recent.filter((t) => now - t < RECENT_WINDOW_MS).length : 0,
        consecutiveFailures: e?.consecutive ?? 0,
        ...(e?.lastSuccess !== undefined ? { lastSuccess: e.lastSuccess } : {}),
        ...(e?.lastFailure !== undefined ? { lastFailure: e.lastFailure } : {}),
      };
    });
  }

  #entry(backend: string): Entry {
    let e = this.#entries.get(backend);
    if (e !== undefined) {
      // Re-inserted: the map's order is the order last seen, for eviction.
      this.#entries.delete(backend);
    } else {
      e = { logins: 0, failures: 0, consecutive: 0, recent: [] };
      if (this.#entries.size >= MAX_BACKENDS) this.#entries.delete(this.#entries.keys().next().value!);
    }
    this.#entries.set(backend, e);
    return e;
  }
}

/**
 * The workers' lists as one (a cluster primary): counts add up, the latest success and failure
 * win. consecutiveFailures is the largest of the workers': each counts since its own last success.
 */
export function mergeBackendHealth(lists: ReadonlyArray<readonly BackendHealth[]>): BackendHealth[] {
  const merged = new Map<string, BackendHealth>();
  for (const list of lists) {
    for (const b of list) {
      const m = merged.get(b.backend);
      if (m === undefined) {
        merged.set(b.backend, { ...b });
        continue;
      }
      m.sessions += b.sessions;
      m.logins += b.logins;
      m.failures += b.failures;
      m.recentFailures += b.recentFailures;
      m.consecutiveFailures = Math.max(m.consecutiveFailures, b.consecutiveFailures);
      if (b.lastSuccess !== undefined && (m.lastSuccess === undefined || b.lastSuccess > m.lastSuccess)) m.lastSuccess = b.lastSuccess;
      if (b.lastFailure !== undefined && (m.lastFailure === undefined || b.lastFailure.at > m.lastFailure.at)) m.lastFailure = b.lastFailure;
    }
  }
  return [...merged.values()].sort((a, b) => (a.backend < b.backend ? -1 : a.backend > b.backend ? 1 : 0));
}
