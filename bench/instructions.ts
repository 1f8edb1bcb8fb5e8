// `node dist/bench/instructions.js [--targets dovecot,nginx,postern] [--logins imap,pop3,imaps]
//   [--postern-rev REV[,REV...]] [--warmup 10000] [--count 2000] [--rounds 1] [--users 1000] [--cache-sim] [--keep DIR] [--no-write]`
// Instructions a login costs each proxy, counted by valgrind's callgrind: user-space instructions
// executed, summed over the proxy's processes, one client at a time: the difference between two
// starts of the proxy or, for postern, between counters zeroed and dumped. Dovecot's count repeats to
// within 0.5 %, nginx's 3 %, postern's about 10 % after a short warm-up (bench/README.md, "Instructions
// per login").
import { execFile } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { basename, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { getTestCerts, makeTempDir, type CertFiles } from '../test/interop/harness/index.js';
import { loadgenUserArgs, startBackend } from './backend.js';
import { buildCTools } from './cbuild.js';
import { describeEnvironment, environmentMarkdown } from './environment.js';
import { FULL, LOGIN_FLAGS, primeBackend, type FigureContext } from './figures.js';
import { appendResults, commandLine, utcMinute } from './results.js';
import { describeErrors, runLoadgen } from './loadgen.js';
import { missingPackages } from './prereqs.js';
import { processTree } from './procstat.js';
import { dovecotProxyTarget } from './targets/dovecot-proxy.js';
import { nginxTarget } from './targets/nginx.js';
import { posternBuilds, posternTargetsOf } from './targets/postern.js';
import type { Target, TargetId } from './targets/types.js';

const run = promisify(execFile);
/** The logins counted, each the bench's login figure of that name (its load generator flags and port). */
const PROTOCOL = { imap: 'imap', pop3: 'pop3', imaps: 'imap' } as const;
type Login = keyof typeof PROTOCOL;

interface Options {
  targets: TargetId[];
  logins: Login[];
  posternRevs: string[];
  warmup: number;
  count: number;
  rounds: number;
  /** Backend users (the logins go round them). */
  users: number;
  /** callgrind's cache simulation: L1 and last-level misses beside the instructions. */
  cacheSim: boolean;
  write: boolean;
  /** Copy callgrind's files here before they are removed (`callgrind_annotate --inclusive=yes <file>` reads them). */
  keep?: string;
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { targets: ['dovecot', 'nginx', 'postern'], logins: ['imap', 'pop3'], posternRevs: ['.'], warmup: 10_000, count: 2000, rounds: 1, users: 1000, cacheSim: false, write: true };
  const count = (v: string | undefined, name: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`${name} takes a positive whole number`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--no-write') opts.write = false;
    else if (a === '--cache-sim') opts.cacheSim = true;
    else if (a === '--targets' && argv[i + 1]) opts.targets = argv[++i]!.split(',') as TargetId[];
    else if (a === '--logins' && argv[i + 1]) {
      opts.logins = argv[++i]!.split(',') as Login[];
      for (const l of opts.logins) if (!(l in PROTOCOL)) throw new Error(`--logins takes ${Object.keys(PROTOCOL).join(',')}; not ${l}`);
    } else if (a === '--postern-rev' && argv[i + 1]) opts.posternRevs = argv[++i]!.split(',').filter((r) => r !== '');
    else if (a === '--warmup') opts.warmup = count(argv[++i], a);
    else if (a === '--count') opts.count = count(argv[++i], a);
    else if (a === '--rounds') opts.rounds = count(argv[++i], a);
    else if (a === '--users') opts.users = count(argv[++i], a);
    else if (a === '--keep' && argv[i + 1]) opts.keep = argv[++i]!;
    else throw new Error(`unknown argument ${a}; see bench/README.md`);
  }
  if (opts.targets.includes('direct')) throw new Error('the backend itself is not counted: --targets takes dovecot, nginx and postern');
  return opts;
}

/** What every count of a run shares: the load generator and users, the backend's ports, the certificate. */
interface Bench {
  ctx: FigureContext;
  ports: { imap: number; pop3: number };
  cert: CertFiles;
}

/** callgrind's counts by event name: `Ir` (instructions), and with the cache simulation `Dr`, `I1mr`, `D1mr`, ... */
type Events = Record<string, number>;

/** One process's counts: its command and what it did from start to exit. */
interface Count {
  command: string;
  events: Events;
}

interface Measure {
  target: string;
  login: Login;
  /** Instructions a login, summed over the processes. */
  perLogin: number;
  byProcess: Map<string, number>;
  /** Each event a login, summed over the processes. */
  events: Events;
}

const log = (msg: string) => console.log(`[instructions] ${msg}`);
/** How long one step of a login (connect, greeting, a reply) may take under valgrind. */
const STEP_TIMEOUT_S = 120;

/**
 * The counts callgrind wrote in `dir`: at each process's exit (cg.<pid>.out), or, with `dump`, the
 * first dump asked of it (cg.<pid>.out.1).
 */
function dumps(dir: string, dump = false): Count[] {
  return readdirSync(dir)
    .filter((f) => (dump ? /^cg\.\d+\.out\.1$/ : /^cg\.\d+\.out$/).test(f))
    .flatMap((f) => {
      const text = readFileSync(join(dir, f), 'utf8');
      const names = /^events:(.*)$/m.exec(text)?.[1]?.trim().split(/\s+/);
      const totals = /^(?:summary|totals):(.*)$/m.exec(text)?.[1]?.trim().split(/\s+/).map(Number);
      // A process still starting when it was stopped leaves an empty file.
      if (names === undefined || totals === undefined || totals.length === 0) return [];
      const events: Events = {};
      names.forEach((name, i) => (events[name] = totals[i] ?? 0));
      return [{ command: basename(/^cmd:\s*(\S+)/m.exec(text)?.[1] ?? f), events }];
    });
}

/** `a` plus `sign` times `b`, event by event. */
function addEvents(a: Events, b: Events, sign = 1): Events {
  const out: Events = { ...a };
  for (const [name, n] of Object.entries(b)) out[name] = (out[name] ?? 0) + sign * n;
  return out;
}

const byName = (counts: readonly Count[]) => {
  const m = new Map<string, Events>();
  for (const c of counts) m.set(c.command, addEvents(m.get(c.command) ?? {}, c.events));
  return m;
};

/** Until none of `pids` is left (bounded): a process stopped under valgrind writes its counts on the way out. */
async function gone(pids: readonly number[]): Promise<void> {
  for (let i = 0; i < 600 && pids.some((pid) => existsSync(`/proc/${pid}`)); i++) await sleep(100);
}

/** Copies callgrind's files into `to` (made if missing), each name prefixed with what was counted. */
function keepFiles(from: string, to: string, prefix: string): void {
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from)) copyFileSync(join(from, f), join(to, `${prefix}-${f}`));
  log(`callgrind's files for ${prefix} copied to ${to}`);
}

/**
 * One start of the target under callgrind: `drive` runs logins (and may ask callgrind for things by
 * the target's pid); then the target is stopped and the counts in the folder are read.
 */
async function underCallgrind(t: Target, login: Login, bench: Bench, opts: Options, drive: (logins: (n: number) => Promise<void>, pid: number) => Promise<void>, dump: boolean): Promise<Map<string, Events>> {
  const dir = makeTempDir('bench-callgrind');
  // Processes that switch users after their start (Dovecot's services, nginx's workers) write their
  // counts at exit, into the file callgrind created as root when they started: both must let them.
  chmodSync(dir.path, 0o777);
  const opened = new Set<string>();
  const letWrite = () => {
    for (const f of readdirSync(dir.path)) {
      if (opened.has(f)) continue;
      chmodSync(join(dir.path, f), 0o666);
      opened.add(f);
    }
  };
  const watcher = setInterval(letWrite, 200);
  const protocol = PROTOCOL[login];
  const { flags, tlsPort } = LOGIN_FLAGS[`login-${login}`];
  const wrap = ['valgrind', '--tool=callgrind', ...(opts.cacheSim ? ['--cache-sim=yes'] : []), '--trace-children=yes', `--callgrind-out-file=${dir.path}/cg.%p.out`];
  try {
    // One thread for V8 (no concurrent compiler or GC helpers), so what it does repeats run to run.
    const target = await t.start({ protocol, backendPort: bench.ports[protocol], cert: bench.cert, wrap, ...(t.id === 'postern' ? { nodeFlags: ['--single-threaded'] } : {}) });
    let pids: number[] = [];
    try {
      const port = tlsPort ? target.tlsPort : target.port;
      const logins = async (n: number) => {
        // A process that starts under valgrind (a login process of Dovecot's, say) may take longer than the 10 s a step waits by default.
        const args = ['--mode', 'login', '--conns', '1', '--warmup', '0', '--duration', '3600', '--step-timeout', String(STEP_TIMEOUT_S), '--max-logins', String(n), '--port', String(port), ...flags, ...loadgenUserArgs(bench.ctx.users)];
        const { result } = await runLoadgen(bench.ctx.loadgen, args, { parties: new Map(), timeoutMs: 3_600_000 });
        if (result.errors > 0 || result.ops !== n) throw new Error(`${t.label} ${login}: ${result.ops} of ${n} logins, ${result.errors} errors (${describeErrors(result)})`);
      };
      await drive(logins, target.pid!);
      pids = processTree(target.pid!).map((s) => s.pid);
      letWrite();
    } finally {
      await target.stop();
    }
    await gone(pids);
    if (opts.keep !== undefined) keepFiles(dir.path, opts.keep, `${t.label.replace(/\W+/g, '-')}-${login}`);
    return byName(dumps(dir.path, dump));
  } finally {
    clearInterval(watcher);
    dir.remove();
  }
}

/**
 * Instructions a login. postern is one process that keeps its user: its counters are zeroed after the
 * warm-up and dumped after the counted logins (callgrind_control). The others change user after
 * valgrind starts them, which callgrind_control cannot reach (its FIFOs stay root's): each is started
 * twice, for the warm-up logins alone and for the warm-up and the counted ones, and the difference of
 * the counts at exit is the counted logins', without start, warm-up and stop.
 */
async function measure(t: Target, login: Login, bench: Bench, opts: Options): Promise<Measure> {
  let total: Map<string, Events>;
  if (t.id === 'postern') {
    log(`${t.label} ${login}: ${opts.warmup} logins, counters zeroed, ${opts.count} logins, under callgrind`);
    total = await underCallgrind(t, login, bench, opts, async (logins, pid) => {
      await logins(opts.warmup);
      await run('callgrind_control', ['-z', String(pid)], { timeout: 120_000 });
      await logins(opts.count);
      await run('callgrind_control', ['-d', String(pid)], { timeout: 120_000 });
    }, true);
  } else {
    const warmup = compiledWarmup(opts);
    log(`${t.label} ${login}: ${warmup} logins, then ${warmup + opts.count}, under callgrind`);
    const before = await underCallgrind(t, login, bench, opts, (logins) => logins(warmup), false);
    const after = await underCallgrind(t, login, bench, opts, (logins) => logins(warmup + opts.count), false);
    total = new Map([...after].map(([name, e]) => [name, addEvents(e, before.get(name) ?? {}, -1)]));
  }
  const byProcess = new Map([...total].map(([name, e]) => [name, (e['Ir'] ?? 0) / opts.count]));
  const events: Events = {};
  for (const [name, n] of Object.entries([...total.values()].reduce((a, b) => addEvents(a, b), {}))) events[name] = n / opts.count;
  const perLogin = events['Ir'] ?? 0;
  log(`${t.label} ${login}: ${mega(perLogin)} instructions a login (${describe(byProcess)})${opts.cacheSim ? `; ${misses(events)}` : ''}`);
  return { target: t.label, login, perLogin, byProcess, events };
}

/** The cache simulation's misses a login (callgrind's event names). */
const MISSES = ['I1mr', 'D1mr', 'D1mw', 'ILmr', 'DLmr', 'DLmw'] as const;
/** Thousands; a difference of two counts a hair below zero (noise) reads as 0. */
const kilo = (n: number) => `${(Math.max(0, n) / 1e3).toFixed(1)} k`;
const misses = (e: Events) => `L1 misses: instruction ${kilo(e['I1mr'] ?? 0)}, data read ${kilo(e['D1mr'] ?? 0)}, data write ${kilo(e['D1mw'] ?? 0)}; last level ${kilo((e['ILmr'] ?? 0) + (e['DLmr'] ?? 0) + (e['DLmw'] ?? 0))}`;

/**
 * Dovecot and nginx are compiled C: their warm-up only fills caches and pools, and a thousand logins do
 * that. postern's JIT still compiles parts of the login path after 3,000 (bench/RESULTS.md, item 43),
 * hence its longer default.
 */
const C_WARMUP_MAX = 1000;
const compiledWarmup = (opts: Options) => Math.min(opts.warmup, C_WARMUP_MAX);

const mega = (n: number) => `${(n / 1e6).toFixed(3)} M`;

function describe(byProcess: ReadonlyMap<string, number>): string {
  return [...byProcess.entries()]
    .sort((a, b) => b[1] - a[1])
    .filter(([, n]) => Math.abs(n) >= 1000)
    .map(([name, n]) => `${name} ${mega(n)}`)
    .join(', ');
}

function table(measures: readonly Measure[], logins: readonly Login[], cacheSim: boolean): string {
  const targets = [...new Set(measures.map((m) => m.target))];
  const cell = (target: string, login: Login) => {
    const runs = measures.filter((m) => m.target === target && m.login === login).map((m) => m.perLogin);
    if (runs.length === 0) return '—';
    const lo = Math.min(...runs);
    const hi = Math.max(...runs);
    return runs.length === 1 ? mega(lo) : `${mega(lo)} – ${mega(hi)}`;
  };
  const rows = targets.map((t) => `| ${t} | ${logins.map((l) => cell(t, l)).join(' | ')} |`);
  const detail = measures.map((m) => `| ${m.target} | ${m.login} | ${describe(m.byProcess)} |`);
  return [
    `| target | ${logins.map((l) => `${l.toUpperCase()} login`).join(' | ')} |`,
    `| --- | ${logins.map(() => '---:').join(' | ')} |`,
    ...rows,
    '',
    '| target | login | by process (instructions a login) |',
    '| --- | --- | --- |',
    ...detail,
    ...(cacheSim
      ? [
          '',
          `| target | login | instructions | data reads | ${MISSES.join(' | ')} |`,
          `| --- | --- | ---: | ---: | ${MISSES.map(() => '---:').join(' | ')} |`,
          ...measures.map((m) => `| ${m.target} | ${m.login} | ${kilo(m.events['Ir'] ?? 0)} | ${kilo(m.events['Dr'] ?? 0)} | ${MISSES.map((e) => kilo(m.events[e] ?? 0)).join(' | ')} |`),
        ]
      : []),
  ].join('\n');
}

async function main(): Promise<number> {
  const opts = parseArgs(process.argv.slice(2));
  // nginx's packages only when nginx is counted.
  const missing = missingPackages().filter((m) => opts.targets.includes('nginx') || !m.pkg.includes('nginx'));
  if (missing.length > 0) throw new Error(`missing packages: ${missing.map((m) => m.pkg).join(' ')}`);
  try {
    await run('valgrind', ['--version']);
    await run('callgrind_control', ['--version']);
  } catch {
    throw new Error('valgrind or callgrind_control not found: apt-get install -y valgrind');
  }
  const t0 = Date.now();
  const env = describeEnvironment();
  const tmp = makeTempDir('bench-instructions');
  const notes: string[] = [];
  log(`starting the Dovecot backend with ${opts.users} users`);
  const backend = await startBackend(opts.users);
  try {
    const tools = await buildCTools(tmp.path);
    const builds = posternBuilds(opts.posternRevs, tmp.path, env.postern);
    env.postern = builds.map((p) => p.name).join(', then ');
    const cert = (await getTestCerts()).server;
    const all: Target[] = [dovecotProxyTarget(availableParallelism()), nginxTarget(), ...(await posternTargetsOf(builds, cert, notes))];
    const targets = all.filter((t) => opts.targets.includes(t.id));
    const bench: Bench = { ctx: { loadgen: tools.loadgen, users: opts.users, durations: FULL, parties: new Map() }, ports: backend.dovecot.ports, cert };
    log('every user logs in once to the backend');
    await primeBackend(bench.ctx, bench.ports);
    const measures: Measure[] = [];
    for (let round = 1; round <= opts.rounds; round++) {
      for (const login of opts.logins) {
        for (const t of targets) {
          if (t.unsupported?.(PROTOCOL[login], false) !== undefined) continue;
          measures.push(await measure(t, login, bench, opts));
        }
      }
    }
    const section = [
      `## Instructions per login ${utcMinute()} UTC`,
      '',
      `- Command: \`${commandLine('instructions.js')}\` (${((Date.now() - t0) / 60_000).toFixed(1)} minutes)`,
      environmentMarkdown(env),
      `- callgrind's count of user-space instructions, summed over the proxy's processes, for ${opts.count} logins after ${opts.warmup} of warm-up (${compiledWarmup(opts)} for Dovecot and nginx), one client at a time${opts.cacheSim ? ', with callgrind\'s cache simulation (this machine\'s L1 and last-level caches, no prefetching; a login\'s events in thousands)' : ''}${opts.rounds > 1 ? `; ${opts.rounds} rounds (lowest – highest)` : ''}: postern's counters zeroed after the warm-up and dumped after the counted logins; Dovecot's and nginx's as the difference between a start with ${compiledWarmup(opts) + opts.count} logins and one with ${compiledWarmup(opts)}. The kernel's work is not in it. postern runs as one process with \`--single-threaded\`.`,
      ...notes.map((n) => `- ${n}`),
      '',
      table(measures, opts.logins, opts.cacheSim),
      '',
    ].join('\n');
    console.log(`\n${section}`);
    if (opts.write) {
      appendResults(section);
      log('appended to bench/RESULTS.md');
    }
    return 0;
  } finally {
    await backend.dovecot.stop();
    tmp.remove();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`bench: ${(error as Error).message ?? String(error)}`);
    process.exit(1);
  },
);
