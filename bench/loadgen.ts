// Runs the C load generator and accounts for the CPU every party used while it measured: the load
// generator itself (its getrusage), the backend's and the proxy's process trees (/proc), and whatever
// else the machine did meanwhile ("other": other users of these 2 cores).
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { allStats, busiestBetween, machineBusySeconds, treeCpuSeconds, treeProcesses, uptimeSeconds, type Busiest, type ProcessMark, type TreeCpu } from './procstat.js';

/** The load generator's result line (see loadgen.c). */
export interface LoadgenResult {
  mode: 'login' | 'idle' | 'fetch' | 'noop';
  proto: 'imap' | 'pop3';
  tls: boolean;
  conns: number;
  seconds: number;
  ops: number;
  ops_per_s: number;
  errors: number;
  /** The failed connections by cause (loadgen.c, fail_names) */
  error_kinds?: ErrorKinds;
  /** The last server line that failed a connection */
  last_refusal?: string;
  bytes: number;
  bytes_per_s: number;
  samples: number;
  p50_us: number;
  p90_us: number;
  p99_us: number;
  p999_us: number;
  max_us: number;
  cpu_user_s: number;
  cpu_sys_s: number;
  cpu_s: number;
  /** TLS handshakes that resumed a session (--resume) */
  resumed?: number;
  /** idle mode */
  sessions?: number;
  dropped?: number;
}

/** Connection failures by cause: local (socket, epoll), connect, tls, write, eof (closed or reset), refused (a NO/BAD/-ERR or unexpected line), timeout. */
export type ErrorKinds = Record<string, number>;

export interface IdleReady {
  sessions: number;
  wanted: number;
  seconds: number;
  errors: number;
  error_kinds?: ErrorKinds;
  last_refusal?: string;
}

type Failures = { error_kinds?: ErrorKinds; last_refusal?: string };

/** The failures of several runs as one: each kind summed, the last refusal of the last run that had one. */
export function mergeFailures(runs: readonly Failures[]): { error_kinds: ErrorKinds; last_refusal?: string } {
  const kinds: ErrorKinds = {};
  for (const r of runs) for (const [k, n] of Object.entries(r.error_kinds ?? {})) kinds[k] = (kinds[k] ?? 0) + n;
  const lastRefusal = runs.map((r) => r.last_refusal).filter((x) => x).at(-1);
  return { error_kinds: kinds, ...(lastRefusal !== undefined ? { last_refusal: lastRefusal } : {}) };
}

/** "eof 3, refused 1 (last: a NO ...)", or "" when nothing failed. */
export function describeErrors(r: Failures): string {
  const kinds = Object.entries(r.error_kinds ?? {}).filter(([, n]) => n > 0);
  if (kinds.length === 0) return '';
  const refusal = r.last_refusal ? ` (last refusal: ${r.last_refusal})` : '';
  return `${kinds.map(([k, n]) => `${k} ${n}`).join(', ')}${refusal}`;
}

/** CPU seconds used within one measurement window. */
export interface CpuUse {
  wallS: number;
  loadgenS: number;
  /** Per party name given in `parties` (e.g. backend, proxy): CPU seconds, and the kernel's part (system calls; on loopback, most of TCP's work). */
  parties: Record<string, TreeCpu>;
  /** Machine-wide busy time not explained by the parties, the load generator or this orchestrator. */
  otherS: number;
  /** With `RunOptions.busiest`: each party's process that used the most CPU meanwhile. */
  busiest?: Record<string, Busiest>;
}

interface Mark {
  t: number;
  busy: number;
  self: NodeJS.CpuUsage;
  trees: Map<string, TreeCpu>;
  processes?: { uptimeS: number; byParty: Map<string, Map<number, ProcessMark>> };
}

function mark(parties: ReadonlyMap<string, number>, busiest = false): Mark {
  const t = performance.now();
  const busy = machineBusySeconds();
  const self = process.cpuUsage();
  // One read of /proc for the trees' CPU and, with `busiest`, their processes.
  const stats = allStats();
  const m: Mark = { t, busy, self, trees: treeCpuSeconds(parties, stats) };
  if (busiest) m.processes = { uptimeS: uptimeSeconds(), byParty: treeProcesses(parties, stats) };
  return m;
}

function busiestOf(a: Mark, b: Mark): Record<string, Busiest> | undefined {
  if (a.processes === undefined || b.processes === undefined) return undefined;
  const out: Record<string, Busiest> = {};
  for (const [name, end] of b.processes.byParty) {
    const top = busiestBetween(a.processes.byParty.get(name) ?? new Map(), end, a.processes.uptimeS);
    if (top !== undefined) out[name] = top;
  }
  return out;
}

function between(a: Mark, b: Mark, loadgenS: number): CpuUse {
  const parties: Record<string, TreeCpu> = {};
  let ours = loadgenS;
  for (const [name, end] of b.trees) {
    const before = a.trees.get(name);
    const used = { total: Math.max(0, end.total - (before?.total ?? 0)), sys: Math.max(0, end.sys - (before?.sys ?? 0)) };
    parties[name] = used;
    ours += used.total;
  }
  const self = process.cpuUsage(a.self);
  ours += (self.user + self.system) / 1e6;
  const busiest = busiestOf(a, b);
  return { wallS: (b.t - a.t) / 1000, loadgenS, parties, otherS: Math.max(0, b.busy - a.busy - ours), ...(busiest !== undefined ? { busiest } : {}) };
}

export interface RunOptions {
  /** Root pids of the process trees to account for, by party name. */
  parties: ReadonlyMap<string, number>;
  /** Kill the load generator if it has not finished by then. */
  timeoutMs: number;
  /** idle mode: called once every session is in; the sessions are held until it resolves. */
  onReady?: (ready: IdleReady) => Promise<void>;
  /** Run the load generator on these CPUs only (taskset's list). */
  cpus?: string;
  /** Find each party's busiest process over the measured interval (CpuUse.busiest). */
  busiest?: boolean;
}

export interface LoadgenRun {
  result: LoadgenResult;
  cpu: CpuUse;
  ready?: IdleReady;
  /** Date.now() when the measurement started and ended (to cut a profile to the same interval). */
  window: { startMs: number; endMs: number };
}

export function runLoadgen(binary: string, args: readonly string[], opts: RunOptions): Promise<LoadgenRun> {
  return new Promise((resolve, reject) => {
    const [file, argv] = opts.cpus === undefined ? [binary, args] : ['taskset', ['--cpu-list', opts.cpus, binary, ...args]];
    const child = spawn(file, argv, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.on('error', () => undefined);
    let start: Mark | undefined;
    const window = { startMs: 0, endMs: 0 };
    let readyMark: Mark | undefined;
    let ready: IdleReady | undefined;
    let result: LoadgenResult | undefined;
    let cpu: CpuUse | undefined;
    let failure: Error | undefined;
    const timer = setTimeout(() => {
      failure = new Error(`loadgen ${args.join(' ')} still running after ${opts.timeoutMs} ms`);
      child.kill('SIGKILL');
    }, opts.timeoutMs);

    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      let msg: { event?: string } & Record<string, unknown>;
      try {
        msg = JSON.parse(line) as typeof msg;
      } catch {
        return;
      }
      if (msg.event === 'measure_start') {
        start = mark(opts.parties, opts.busiest);
        window.startMs = Date.now();
      } else if (msg.event === 'ready') {
        readyMark = mark(opts.parties, opts.busiest);
        window.endMs = Date.now();
        ready = msg as unknown as IdleReady;
        const release = opts.onReady ? opts.onReady(ready) : Promise.resolve();
        release.then(
          () => child.stdin.end(),
          (error: unknown) => {
            failure = error as Error;
            child.stdin.end();
          },
        );
      } else if (msg.event === 'result') {
        const end = readyMark ?? mark(opts.parties, opts.busiest);
        window.endMs ||= Date.now();
        result = msg as unknown as LoadgenResult;
        if (start !== undefined) cpu = between(start, end, result.cpu_s);
      }
    });
    if (opts.onReady === undefined) child.stdin.end();
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      if (failure) return reject(failure);
      if (result === undefined || cpu === undefined) {
        return reject(new Error(`loadgen ${args.join(' ')} exited ${code} without a result:\n${stderr}`));
      }
      resolve({ result, cpu, window, ...(ready ? { ready } : {}) });
    });
  });
}
