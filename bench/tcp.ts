// The TCP congestion control the benchmark's connections run under. Every party sends over loopback,
// where BBR (a common choice of the machine's default) paces each socket with its own timer, there
// being no fq queue on `lo` to do it: on a two-vCPU virtual machine that cost postern about 140 µs of
// kernel time per relayed MiB and more than a third of its FETCH rate, Dovecot's proxy more (RESULTS.md item 61).
// So that figures from machines set up differently compare, the benchmark runs under Linux's own
// default, CUBIC, unless told otherwise; where the machine's default differs it re-runs itself in a
// network namespace of its own (`unshare --net`, root), whose setting it may change without touching
// the machine's.
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';

export const DEFAULT_CONGESTION = 'cubic';
/** `--tcp-congestion system`: the machine's setting, whatever it is. */
export const SYSTEM = 'system';
const CONGESTION_FILE = '/proc/sys/net/ipv4/tcp_congestion_control';
/** Set in the re-run: the algorithm it is to set in its namespace, and the machine's, for the report. */
const INSIDE = 'BENCH_NETNS_CONGESTION';
const MACHINE = 'BENCH_MACHINE_CONGESTION';

export const congestionControl = (): string => readFileSync(CONGESTION_FILE, 'utf8').trim();

/** What to do about the congestion control, from what was asked, what this namespace has and whether this is the re-run. */
export type CongestionPlan =
  | { kind: 'as-is'; describe: string }
  | { kind: 'set-here'; algorithm: string; describe: string }
  | { kind: 'rerun'; algorithm: string; machine: string };

export function planCongestion(wanted: string, current: string, env: NodeJS.ProcessEnv): CongestionPlan {
  const inside = env[INSIDE];
  if (inside !== undefined) {
    return { kind: 'set-here', algorithm: inside, describe: `${inside}, in the benchmark's own network namespace (the machine's default: ${env[MACHINE] ?? 'unknown'})` };
  }
  if (wanted === SYSTEM) return { kind: 'as-is', describe: `${current} (the machine's default, as --tcp-congestion system asks)` };
  if (wanted === current) return { kind: 'as-is', describe: `${current} (the machine's default)` };
  return { kind: 'rerun', algorithm: wanted, machine: current };
}

/**
 * Runs this same command again in a new network namespace, told to set `algorithm` there, and returns
 * its exit status. Throws, saying what to do instead, where a namespace cannot be made (not root).
 */
export function rerunInNamespace(algorithm: string, machine: string): number {
  const probe = spawnSync('unshare', ['--net', 'true'], { encoding: 'utf8' });
  if (probe.error !== undefined || probe.status !== 0) {
    const why = probe.error?.message ?? (probe.stderr.trim() || `exit ${probe.status}`);
    throw new Error(`the machine's TCP congestion control is ${machine}; running under ${algorithm} needs a network namespace of the benchmark's own (unshare --net, as root), which failed: ${why}. Run as root, or pass --tcp-congestion system to measure under ${machine}`);
  }
  const r = spawnSync('unshare', ['--net', '--', process.execPath, ...process.execArgv, ...process.argv.slice(1)], {
    stdio: 'inherit',
    env: { ...process.env, [INSIDE]: algorithm, [MACHINE]: machine },
  });
  if (r.error !== undefined) throw r.error;
  return r.status ?? 1;
}

/** In the re-run: loopback up (a new namespace has it down) and the algorithm set, checked. */
export function setUpNamespace(algorithm: string): void {
  const up = spawnSync('ip', ['link', 'set', 'lo', 'up'], { encoding: 'utf8' });
  if (up.error !== undefined || up.status !== 0) throw new Error(`ip link set lo up failed in the benchmark's network namespace: ${up.error?.message ?? up.stderr.trim()}`);
  try {
    writeFileSync(CONGESTION_FILE, algorithm);
  } catch (error) {
    const offered = readFileSync('/proc/sys/net/ipv4/tcp_available_congestion_control', 'utf8').trim();
    const why = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'the kernel has no such algorithm' : (error as Error).message;
    throw new Error(`cannot set TCP congestion control ${algorithm}: ${why} (it offers: ${offered})`);
  }
  const now = congestionControl();
  if (now !== algorithm) throw new Error(`TCP congestion control reads ${now} after setting ${algorithm}`);
}
