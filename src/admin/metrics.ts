import { createRequire } from 'node:module';
import type * as PromClient from 'prom-client';
import type { Counter, Histogram, MetricObjectWithValues, MetricValue, Registry } from 'prom-client';
import type { LoginOutcome, SessionInfo } from '../login/index.js';

let prom: typeof PromClient | undefined;

/** prom-client, loaded when the first metrics are made: a postern without `admin:` never loads it. */
export function promClient(): typeof PromClient {
  return (prom ??= createRequire(import.meta.url)('prom-client') as typeof PromClient);
}

/** The `result` label of postern_logins_total: every LoginOutcome kind. */
// A Record, so that a new kind of outcome fails to compile until it is listed here.
const RESULTS: Record<LoginOutcome['kind'], true> = { proxied: true, authFailed: true, authTempFail: true, nologin: true, referral: true, local: true, misrouted: true, proxyFailed: true, limitReached: true };
export const LOGIN_RESULTS = Object.keys(RESULTS) as ReadonlyArray<LoginOutcome['kind']>;
type LoginProtocol = 'imap' | 'pop3';
type LoginCounters = Record<LoginProtocol, Record<LoginOutcome['kind'], Counter.Internal>>;
const LOGIN_PROTOCOLS: readonly LoginProtocol[] = ['imap', 'pop3'];

/** The services an AuthRequest names that become a `protocol` label as they are; any other is `other`. */
const AUTH_SERVICES = new Set(['imap', 'pop3', 'lmtp', 'smtp', 'submission', 'sieve', 'doveadm']);

const AUTH_BUCKETS_S = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** What the gauges read at scrape: the open sessions of this server. */
export interface SessionSource {
  list(): SessionInfo[];
}

export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/**
 * One server's Prometheus metrics, in a registry of its own (never the global one), so that
 * two servers in one process, or the workers of a cluster, keep their counts apart. Counters
 * are bumped by the observer hooks; session gauges and byte totals are read at scrape time.
 */
export class ServerMetrics {
  readonly registry: Registry;
  /** Prebuilt children, at 0 from the start: a login costs one increment, no label object. */
  readonly #logins: LoginCounters;
  readonly #authDuration: Histogram<'protocol'>;
  readonly #authChildren = new Map<string, Histogram.Internal<'protocol'>>();
  readonly #passdbErrors: Counter<'passdb'>;
  readonly #backendFailures: Counter<'backend' | 'kind'>;
  readonly #tlsFailures: Counter<'listener'>;
  /** Bytes of sessions that have ended, by protocol; live sessions are added at scrape. */
  readonly #endedBytes: Record<LoginProtocol, { in: number; out: number }> = { imap: { in: 0, out: 0 }, pop3: { in: 0, out: 0 } };

  constructor(sessions: SessionSource, opts: { defaultMetrics?: boolean; accepting?: () => boolean } = {}) {
    const { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } = promClient();
    this.registry = new Registry();
    const registers = [this.registry];
    const logins = new Counter({ name: 'postern_logins_total', help: 'Logins by protocol and outcome (the LoginOutcome kind: proxied, authFailed, proxyFailed, ...).', labelNames: ['protocol', 'result'] as const, registers });
    const child = (p: LoginProtocol, r: LoginOutcome['kind']) => {
      const c = logins.labels(p, r);
      c.inc(0);
      return c;
    };
    this.#logins = Object.fromEntries(LOGIN_PROTOCOLS.map((p) => [p, Object.fromEntries(LOGIN_RESULTS.map((r) => [r, child(p, r)]))])) as LoginCounters;
    this.#authDuration = new Histogram({ name: 'postern_auth_duration_seconds', help: 'Time the passdb chain took to answer, by the service asking (imap, pop3, lmtp, smtp, ...).', labelNames: ['protocol'] as const, buckets: AUTH_BUCKETS_S, registers });
    this.#passdbErrors = new Counter({ name: 'postern_passdb_errors_total', help: "Passdb lookups that failed temporarily, by passdb (its name: the passdb's `name`, else its driver and target). A later passdb may still have answered the login.", labelNames: ['passdb'] as const, registers });
    this.#backendFailures = new Counter({ name: 'postern_backend_connect_failures_total', help: 'Proxied logins that failed at the backend, by backend (host:port) and failure kind (connect, timeout, protocol, config, authTempFail, remoteCode, internal).', labelNames: ['backend', 'kind'] as const, registers });
    this.#tlsFailures = new Counter({ name: 'postern_tls_handshake_failures_total', help: 'Client TLS handshakes that failed (implicit TLS and STARTTLS), by listener.', labelNames: ['listener'] as const, registers });
    new Gauge({
      name: 'postern_sessions',
      help: 'Open client sessions by protocol and state (login, proxying).',
      labelNames: ['protocol', 'state'] as const,
      registers,
      collect() {
        this.reset();
        for (const s of sessions.list()) this.inc({ protocol: s.protocol, state: s.state });
      },
    });
    new Gauge({
      name: 'postern_proxy_sessions',
      help: 'Proxied sessions open, by backend (host:port).',
      labelNames: ['backend'] as const,
      registers,
      collect() {
        this.reset();
        for (const s of sessions.list()) if (s.backend !== undefined) this.inc({ backend: s.backend });
      },
    });
    const accepting = opts.accepting ?? (() => true);
    new Gauge({
      name: 'postern_accepting_workers',
      help: 'Processes taking new IMAP and POP3 connections: 1 for a single process; summed over a cluster, the workers process.accept: gather lets accept at the moment.',
      registers,
      collect() {
        this.set(accepting() ? 1 : 0);
      },
    });
    const ended = this.#endedBytes;
    new Counter({
      name: 'postern_proxy_bytes_total',
      help: 'Bytes of proxied sessions: in = from clients, out = to clients. Ended sessions and the open ones so far.',
      labelNames: ['direction', 'protocol'] as const,
      registers,
      collect() {
        const live = { imap: { in: 0, out: 0 }, pop3: { in: 0, out: 0 } };
        for (const s of sessions.list()) {
          if (s.protocol === 'lmtp') continue;
          live[s.protocol].in += s.bytesIn;
          live[s.protocol].out += s.bytesOut;
        }
        this.reset();
        for (const p of LOGIN_PROTOCOLS) {
          this.inc({ direction: 'in', protocol: p }, ended[p].in + live[p].in);
          this.inc({ direction: 'out', protocol: p }, ended[p].out + live[p].out);
        }
      },
    });
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: this.registry, prefix: 'postern_' });
  }

  login(protocol: LoginProtocol, result: LoginOutcome['kind']): void {
    this.#logins[protocol][result].inc();
  }

  /** One answer of the passdb chain; `service` is the AuthRequest's (imap, pop3, smtp, ...). */
  auth(service: string, seconds: number): void {
    const protocol = AUTH_SERVICES.has(service) ? service : 'other';
    let child = this.#authChildren.get(protocol);
    if (child === undefined) {
      child = this.#authDuration.labels(protocol);
      this.#authChildren.set(protocol, child);
    }
    child.observe(seconds);
  }

  /** One passdb lookup that failed temporarily. */
  passdbError(passdb: string): void {
    this.#passdbErrors.inc({ passdb });
  }

  backendFailed(backend: string, kind: string): void {
    this.#backendFailures.inc({ backend, kind });
  }

  tlsHandshakeFailed(listener: string): void {
    this.#tlsFailures.inc({ listener });
  }

  /** A proxied session ended with these byte counts (from the pipe: exact). */
  sessionEnded(protocol: SessionInfo['protocol'], bytesIn: number, bytesOut: number): void {
    if (protocol === 'lmtp') return;
    this.#endedBytes[protocol].in += bytesIn;
    this.#endedBytes[protocol].out += bytesOut;
  }

  /** The Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  /** The same as prom-client JSON, for a cluster primary to merge with AggregatorRegistry.aggregate. */
  json(): Promise<MetricsJson> {
    return this.registry.getMetricsAsJSON();
  }
}
