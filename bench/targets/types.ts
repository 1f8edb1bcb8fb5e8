// One thing the load generator can be pointed at: the backend itself, or a proxy in front of it.
import type { CertFiles } from '../../test/interop/harness/index.js';

export type Protocol = 'imap' | 'pop3';
export type TargetId = 'direct' | 'dovecot' | 'nginx' | 'postern';

export interface ProxySpec {
  /** What the listeners speak: a proxy is started per protocol (a static passdb names one backend port). */
  protocol: Protocol;
  /** The backend's port for that protocol: its plain one, or its implicit-TLS one with `backendCa`. */
  backendPort: number;
  /**
   * The backend speaks TLS from the start: the proxies dial it with `ssl=yes` and verify its
   * certificate against this CA (a PEM file), postern with `proxy.ca_file`, Dovecot's proxy with
   * `ssl_ca` (its login processes ignore `ssl_client_ca_file`).
   */
  backendCa?: string;
  /** The one certificate every party serves. */
  cert: CertFiles;
  /** Extra node flags (postern only; --cpu-prof, --heapsnapshot-signal for the profile run). */
  nodeFlags?: string[];
  /**
   * A command the target's processes run under, its arguments before the target's own (valgrind for
   * bench/instructions.ts); the target is given minutes rather than seconds to start, and a minute to stop.
   */
  wrap?: readonly string[];
  /** Working folder for files the node process writes (profiles, heap snapshots). */
  cwd?: string;
}

export interface RunningTarget {
  /** Plain listener (STARTTLS/STLS offered where the target offers it). */
  port: number;
  /** Implicit TLS listener. */
  tlsPort: number;
  /** Root of the target's process tree; undefined for the backend itself (it is counted as the backend). */
  pid: number | undefined;
  stop(): Promise<void>;
}

export interface Target {
  id: TargetId;
  label: string;
  /** undefined, or why this target cannot serve the protocol (with TLS to the backend) in this run. */
  unsupported?(protocol: Protocol, backendTls: boolean): string | undefined;
  start(spec: ProxySpec): Promise<RunningTarget>;
}
