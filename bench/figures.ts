// The figures of issue 6, each one run of the load generator against one started target.
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadgenUserArgs } from './backend.js';
import { mergeFailures, runLoadgen, type IdleReady, type LoadgenResult, type LoadgenRun } from './loadgen.js';
import { pinTree, treeMemory, type Busiest, type TreeMemory } from './procstat.js';
import type { RunningTarget } from './targets/types.js';

/**
 * Every figure, in the order a run takes them, with what it runs against: the backend's IMAP or POP3
 * port, its implicit-TLS IMAP port (`imaps`: the proxy dials it with TLS),
 * or (`idle`) the C fake backend, so that 10,000 sessions need no 10,000 Dovecot processes.
 */
const FIGURES = {
  'login-imap': 'imap',
  'login-imaps': 'imap',
  'login-imaps-resume': 'imap',
  'login-starttls': 'imap',
  'login-imaps-backend-tls': 'imaps',
  fetch: 'imap',
  'fetch-pinned': 'imap',
  noop: 'imap',
  'login-pop3': 'pop3',
  'login-imap-1': 'imap',
  'login-pop3-1': 'pop3',
  idle: 'fake',
} as const;

export type FigureId = keyof typeof FIGURES;
export const ALL_FIGURES = Object.keys(FIGURES) as FigureId[];

/** What a figure runs against. */
export const backendOf = (figure: FigureId): (typeof FIGURES)[FigureId] => FIGURES[figure];

/** `--figures a,b`: every name checked. */
export function parseFigures(list: string): FigureId[] {
  const names = list.split(',').filter((f) => f !== '');
  const unknown = names.filter((f) => !(f in FIGURES));
  if (unknown.length > 0) throw new Error(`unknown figure ${unknown.join(', ')}; figures are ${ALL_FIGURES.join(', ')}`);
  return names as FigureId[];
}

export interface Durations {
  loginWarmupS: number;
  loginS: number;
  /** Clients logging in at once in the login figures (`--clients`), but for the one-client ones. */
  loginClients: number;
  streamWarmupS: number;
  streamS: number;
  idleSessions: number;
  settleMs: number;
  /** Logins at 20 clients before a one-client figure's own warm-up (a running server's login path is compiled). */
  oneClientWarmupLogins: number;
}

// Every figure starts its target afresh: 5 s of logins let V8 compile postern's login path before the measure
// (the one-client figures get 10,000 logins at 20 clients first: one client alone would take 15 s to do as many).
/** Clients logging in at once in the login figures unless `--clients` says otherwise. */
export const LOGIN_CLIENTS = 50;

export const FULL: Durations = { loginWarmupS: 5, loginS: 15, loginClients: LOGIN_CLIENTS, streamWarmupS: 1, streamS: 8, idleSessions: 10_000, settleMs: 3000, oneClientWarmupLogins: 10_000 };
export const SHORT: Durations = { loginWarmupS: 1, loginS: 3, loginClients: LOGIN_CLIENTS, streamWarmupS: 0.5, streamS: 2, idleSessions: 2_000, settleMs: 1000, oneClientWarmupLogins: 1_000 };

const IDLE_LOGINS_IN_FLIGHT = 100;

export interface IdleMemory {
  before: TreeMemory;
  after: TreeMemory;
  ready: IdleReady;
  perSessionRss: number;
  perSessionPss: number;
}

export interface FigureRun extends LoadgenRun {
  figure: FigureId;
  memory?: IdleMemory;
  /** A figure taken in interleaved rounds (ROUNDS): each round's rate, ops or bytes a second. */
  rounds?: number[];
  /** And each round's p50 latency in microseconds (the NOOP figure's measure). */
  roundP50s?: number[];
  /** And each round's busiest process of the backend (CpuUse.busiest), where known. */
  roundBackends?: (Busiest | undefined)[];
}

/**
 * How many rounds a figure is taken in, the targets taking turns: the FETCH figures move by up to 1.6×
 * between two runs of the same target a few seconds apart, pinned or not (RESULTS.md items 47, 53), so each
 * target takes them in turn several times and the rounds are summed. The NOOP figure's p50 moved by 5 µs
 * between runs (RESULTS.md item 50) against a goal of 25 µs added: its p50 is the median of three rounds.
 * The login figures at 50 clients: the machine's speed drifts by up to half for minutes at a time (RESULTS.md,
 * after the 19:11 run and item 60), and one 15 s window a target put a whole figure's ratio in one state.
 * The measured time is the same in all; each round starts its target afresh, with its own warm-up.
 */
export const ROUNDS: Partial<Record<FigureId, number>> = {
  'login-imap': 3,
  'login-imaps': 3,
  'login-imaps-resume': 3,
  'login-starttls': 3,
  'login-imaps-backend-tls': 3,
  fetch: 3,
  'fetch-pinned': 3,
  noop: 3,
  'login-pop3': 3,
};

/** Whether a run's rate is in bytes (a FETCH figure) rather than operations a second. */
export const ratesBytes = (r: LoadgenResult): boolean => r.mode === 'fetch';
/** A round's rate, in the unit `ratesBytes` says. */
const roundRate = (r: LoadgenResult): number => (ratesBytes(r) ? r.bytes_per_s : r.ops_per_s);

/** Durations of one of `rounds` rounds: the measured time divided, the warm-up kept. */
export const roundDurations = (d: Durations, rounds: number): Durations => ({ ...d, streamS: d.streamS / rounds, loginS: d.loginS / rounds });

const sumOf = <T>(items: readonly T[], get: (x: T) => number) => items.reduce((n, x) => n + get(x), 0);
const median = (xs: readonly number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/**
 * Rounds of one figure on one target as one run: operations, bytes, errors and every CPU figure summed
 * (so rates are totals over the rounds' measured time), latency percentiles the median of the rounds'.
 */
export function mergeRounds(runs: readonly FigureRun[]): FigureRun {
  const first = runs[0];
  if (first === undefined) throw new Error('no round to merge');
  if (runs.length === 1) return first;
  const results = runs.map((r) => r.result);
  const seconds = sumOf(results, (r) => r.seconds);
  const ops = sumOf(results, (r) => r.ops);
  const bytes = sumOf(results, (r) => r.bytes);
  const parties: Record<string, { total: number; sys: number }> = {};
  for (const run of runs) {
    for (const [name, use] of Object.entries(run.cpu.parties)) {
      const p = (parties[name] ??= { total: 0, sys: 0 });
      p.total += use.total;
      p.sys += use.sys;
    }
  }
  return {
    figure: first.figure,
    result: {
      ...first.result,
      seconds,
      ops,
      ops_per_s: ops / seconds,
      bytes,
      bytes_per_s: bytes / seconds,
      errors: sumOf(results, (r) => r.errors),
      ...mergeFailures(results),
      samples: sumOf(results, (r) => r.samples),
      p50_us: median(results.map((r) => r.p50_us)),
      p90_us: median(results.map((r) => r.p90_us)),
      p99_us: median(results.map((r) => r.p99_us)),
      p999_us: median(results.map((r) => r.p999_us)),
      max_us: Math.max(...results.map((r) => r.max_us)),
      cpu_user_s: sumOf(results, (r) => r.cpu_user_s),
      cpu_sys_s: sumOf(results, (r) => r.cpu_sys_s),
      cpu_s: sumOf(results, (r) => r.cpu_s),
    },
    cpu: {
      wallS: sumOf(runs, (r) => r.cpu.wallS),
      loadgenS: sumOf(runs, (r) => r.cpu.loadgenS),
      parties,
      otherS: sumOf(runs, (r) => r.cpu.otherS),
    },
    window: { startMs: first.window.startMs, endMs: runs.at(-1)!.window.endMs },
    rounds: results.map(roundRate),
    roundP50s: results.map((r) => r.p50_us),
    roundBackends: runs.map((r) => r.cpu.busiest?.['backend']),
  };
}

export interface FigureContext {
  loadgen: string;
  users: number;
  durations: Durations;
  /** Root pids by party: always `backend`, and `proxy` unless the target is the backend itself. */
  parties: Map<string, number>;
}

const common = (ctx: FigureContext) => loadgenUserArgs(ctx.users);

export type LoginFigure = Extract<FigureId, `login-${string}`>;

/**
 * The load generator's flags for each login figure, whether it uses the implicit-TLS port, and whether
 * one client logs in at a time: a login's own latency, with no queue behind the others. A stall on a
 * timer (a delayed ACK, RESULTS.md item 51) hides in the 50 clients' figures, each client waiting its
 * turn anyway, and stands out here. Measured a third of the time of the others.
 */
export const LOGIN_FLAGS: Record<LoginFigure, { flags: string[]; tlsPort?: true; oneClient?: true }> = {
  'login-imap': { flags: [] },
  'login-pop3': { flags: ['--pop3'] },
  'login-imap-1': { flags: [], oneClient: true },
  'login-pop3-1': { flags: ['--pop3'], oneClient: true },
  'login-imaps': { flags: ['--tls'], tlsPort: true },
  // Every client offers the last session ticket it was given, as a client reconnecting does.
  'login-imaps-resume': { flags: ['--tls', '--resume'], tlsPort: true },
  'login-starttls': { flags: ['--starttls'] },
  // TLS on both legs: the client's handshake with the proxy, and the proxy's with the backend.
  'login-imaps-backend-tls': { flags: ['--tls'], tlsPort: true },
};

export async function runLogin(ctx: FigureContext, target: RunningTarget, figure: LoginFigure): Promise<FigureRun> {
  const d = ctx.durations;
  const { flags, tlsPort, oneClient } = LOGIN_FLAGS[figure];
  const seconds = oneClient ? d.loginS / 3 : d.loginS;
  if (oneClient) await warmUp(ctx, target.port, d.oneClientWarmupLogins, flags.includes('--pop3') ? 'pop3' : 'imap');
  const args = ['--mode', 'login', '--conns', String(oneClient ? 1 : d.loginClients), '--warmup', String(d.loginWarmupS), '--duration', String(seconds), ...common(ctx)];
  args.push(...flags, '--port', String(tlsPort ? target.tlsPort : target.port));
  const run = await runLoadgen(ctx.loadgen, args, { parties: ctx.parties, timeoutMs: (d.loginWarmupS + seconds + 30) * 1000 });
  return { figure, ...run };
}

export async function runStream(ctx: FigureContext, target: RunningTarget, figure: 'fetch' | 'noop', cpus?: string): Promise<FigureRun> {
  const d = ctx.durations;
  const args = ['--mode', figure, '--port', String(target.port), '--warmup', String(d.streamWarmupS), '--duration', String(d.streamS), '--msg', '1', ...common(ctx)];
  // One session: the busiest process of each tree is the one serving it (the backend's `imap`, say).
  const run = await runLoadgen(ctx.loadgen, args, { parties: ctx.parties, timeoutMs: (d.streamWarmupS + d.streamS + 30) * 1000, busiest: true, ...(cpus !== undefined ? { cpus } : {}) });
  return { figure, ...run };
}

/** Where `fetch-pinned` puts each party: the backend alone on one core, the proxy and the client on another. */
export const PINNED = { backend: '1', proxyAndClient: '0' } as const;

/**
 * The FETCH figure with the scheduler's placement taken out: one session keeps three processes busy
 * (backend, proxy, client) on the machine's cores, and which of them the scheduler puts together
 * decides the rate more than the proxy does (bench/RESULTS.md item 47). Here the backend has a core
 * of its own, as a backend on its own machine would; the proxy and the client share another. Both
 * trees are given back every core afterwards.
 */
export async function runFetchPinned(ctx: FigureContext, target: RunningTarget): Promise<FigureRun> {
  const cores = availableParallelism();
  if (cores < 2) throw new Error(`fetch-pinned needs two cores, this machine has ${cores}`);
  const backend = ctx.parties.get('backend')!;
  const proxy = ctx.parties.get('proxy');
  pinTree(backend, PINNED.backend);
  if (proxy !== undefined) pinTree(proxy, PINNED.proxyAndClient);
  try {
    const run = await runStream(ctx, target, 'fetch', PINNED.proxyAndClient);
    return { ...run, figure: 'fetch-pinned' };
  } finally {
    pinTree(backend, `0-${cores - 1}`);
    if (proxy !== undefined) pinTree(proxy, `0-${cores - 1}`);
  }
}

/** One figure against a started target. */
export function runFigure(ctx: FigureContext, target: RunningTarget, figure: FigureId): Promise<FigureRun> {
  if (figure === 'idle') return runIdle(ctx, target);
  if (figure === 'fetch' || figure === 'noop') return runStream(ctx, target, figure);
  if (figure === 'fetch-pinned') return runFetchPinned(ctx, target);
  return runLogin(ctx, target, figure);
}

/** A short burst of logins so the proxy has run its login path before memory is first read. */
export async function warmUp(ctx: FigureContext, port: number, logins: number, protocol: 'imap' | 'pop3' = 'imap'): Promise<void> {
  const args = ['--mode', 'login', '--conns', '20', '--warmup', '0', '--duration', '120', '--max-logins', String(logins), '--port', String(port), ...common(ctx)];
  if (protocol === 'pop3') args.push('--pop3');
  await runLoadgen(ctx.loadgen, args, { parties: new Map(), timeoutMs: 150_000 });
}

/**
 * Logs every user in once over IMAP and POP3 so Dovecot's per-user index files exist before any figure,
 * and runs one FETCH session (the FETCH figures' user and message): the first FETCH session after a
 * mailbox's index files are made moves the 1 MB message about 1.5× as fast as the later ones
 * (RESULTS.md item 53), and would fall on whichever target takes the first FETCH round.
 */
export async function primeBackend(ctx: FigureContext, ports: { imap: number; pop3: number }): Promise<void> {
  await warmUp(ctx, ports.imap, ctx.users, 'imap');
  await warmUp(ctx, ports.pop3, ctx.users, 'pop3');
  await runLoadgen(ctx.loadgen, ['--mode', 'fetch', '--port', String(ports.imap), '--warmup', '0', '--duration', '0.5', '--msg', '1', ...common(ctx)], { parties: new Map(), timeoutMs: 30_000 });
}

/** Memory per idle logged-in session: the proxy's process tree before and with the sessions held. */
export async function runIdle(ctx: FigureContext, target: RunningTarget, hooks: { beforeSessions?: () => Promise<void>; atReady?: () => Promise<void> } = {}): Promise<FigureRun> {
  const d = ctx.durations;
  const pid = target.pid;
  if (pid === undefined) throw new Error('the idle figure needs a proxy');
  await warmUp(ctx, target.port, 500);
  await sleep(d.settleMs);
  const before = treeMemory(pid);
  await hooks.beforeSessions?.();
  let memory: IdleMemory | undefined;
  const args = ['--mode', 'idle', '--sessions', String(d.idleSessions), '--conns', String(IDLE_LOGINS_IN_FLIGHT), '--timeout', '240', '--port', String(target.port), ...common(ctx)];
  const run = await runLoadgen(ctx.loadgen, args, {
    parties: ctx.parties,
    timeoutMs: 400_000,
    onReady: async (ready) => {
      await sleep(d.settleMs);
      const after = treeMemory(pid);
      const n = Math.max(1, ready.sessions);
      memory = { before, after, ready, perSessionRss: (after.rssBytes - before.rssBytes) / n, perSessionPss: (after.pssBytes - before.pssBytes) / n };
      await hooks.atReady?.();
    },
  });
  return { figure: 'idle', ...run, ...(memory ? { memory } : {}) };
}
