// `npm run bench [-- --short] [--targets direct,postern] [--figures login-imap,idle] [--postern-rev REV[,REV...]]
//   [--clients N] [--tcp-congestion ALGO|system] [--others-policy batch] [--no-profile] [--no-write]`
// Starts a Dovecot backend, then the backend itself, Dovecot's proxy, nginx's mail proxy and postern one
// at a time, drives each with the C load generator, prints the table and appends it to bench/RESULTS.md.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { getTestCerts, makeTempDir, type CertFiles } from '../test/interop/harness/index.js';
import { startBackend, startFakeBackend, type Backend, type FakeBackend } from './backend.js';
import { buildCTools, type CTools } from './cbuild.js';
import { describeEnvironment, environmentMarkdown, type Environment } from './environment.js';
import { ALL_FIGURES, FULL, LOGIN_CLIENTS, ROUNDS, SHORT, backendOf, mergeRounds, parseFigures, primeBackend, roundDurations, runFigure, type Durations, type FigureContext, type FigureId, type FigureRun } from './figures.js';
import { describeErrors } from './loadgen.js';
import { missingPackages } from './prereqs.js';
import { DEFAULT_CONGESTION, congestionControl, planCongestion, rerunInNamespace, setUpNamespace } from './tcp.js';
import { batchTree } from './procstat.js';
import { profilePostern, type Profiles } from './profile.js';
import { appendResults, commandLine, RESULTS_FILE, utcMinute } from './results.js';
import { cpuTable, describeBusiest, failureDetails, figuresTable, idleDetails, profileMarkdown, roundDetails, type TargetResults } from './report.js';
import { directTarget } from './targets/direct.js';
import { dovecotProxyTarget } from './targets/dovecot-proxy.js';
import { nginxTarget } from './targets/nginx.js';
import { posternBuilds, posternTargetsOf } from './targets/postern.js';
import type { Protocol, Target, TargetId } from './targets/types.js';

const USERS = 1000;
const FD_LIMIT = 262_144;

interface Options {
  short: boolean;
  targets: TargetId[];
  figures: FigureId[];
  profile: boolean;
  write: boolean;
  /**
   * Measure postern as committed at these revisions (`.` is the working tree's dist/) instead of the
   * working tree alone: each takes every figure in turn with the other targets, the last one in the figures table.
   */
  posternRevs?: string[];
  /** Clients logging in at once in the login figures (not the one-client ones). */
  clients: number;
  /** The TCP congestion control to run under (bench/tcp.ts), or `system`. */
  tcpCongestion: string;
  /** `batch`: Dovecot's proxy and nginx run under SCHED_BATCH, as postern's workers do by default. */
  othersPolicy?: 'batch';
}

function parseArgs(argv: string[]): Options {
  const opts: Options = { short: false, targets: ['direct', 'dovecot', 'nginx', 'postern'], figures: ALL_FIGURES, profile: true, write: true, clients: LOGIN_CLIENTS, tcpCongestion: DEFAULT_CONGESTION };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--short') opts.short = true;
    else if (a === '--no-profile') opts.profile = false;
    else if (a === '--no-write') opts.write = false;
    else if (a === '--targets' && argv[i + 1]) opts.targets = argv[++i]!.split(',') as TargetId[];
    else if (a === '--figures' && argv[i + 1]) opts.figures = parseFigures(argv[++i]!);
    else if (a === '--postern-rev' && argv[i + 1]) opts.posternRevs = argv[++i]!.split(',').filter((r) => r !== '');
    else if (a === '--clients' && argv[i + 1]) opts.clients = clientCount(argv[++i]!);
    else if (a === '--tcp-congestion' && argv[i + 1]) opts.tcpCongestion = argv[++i]!;
    else if (a === '--others-policy' && argv[i + 1]) opts.othersPolicy = othersPolicy(argv[++i]!);
    else throw new Error(`unknown argument ${a}; see bench/README.md`);
  }
  return opts;
}

function othersPolicy(text: string): 'batch' {
  if (text !== 'batch') throw new Error(`--others-policy takes batch (the others run under the kernel's default policy without it), not ${text}`);
  return text;
}

/**
 * `t` with its processes under SCHED_BATCH once started, those it forks later too. (Not as a `wrap`:
 * that is for valgrind, and a wrapped Dovecot runs unchrooted and is given minutes to start.)
 */
function underBatch(t: Target): Target {
  return {
    ...t,
    label: `${t.label} (SCHED_BATCH)`,
    async start(spec) {
      const run = await t.start(spec);
      if (run.pid !== undefined) batchTree(run.pid);
      return run;
    },
  };
}

function clientCount(text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1 || n > 10_000) throw new Error(`--clients wants a whole number from 1 to 10000, not ${text}`);
  return n;
}

/** The open-file limit the processes started here inherit: raised to FD_LIMIT where allowed (root with
 * CAP_SYS_RESOURCE), else the soft limit is raised to the hard one. */
function raiseFdLimit(): { limit: number; note: string } {
  try {
    execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${FD_LIMIT}:${FD_LIMIT}`], { stdio: 'pipe' });
    return { limit: FD_LIMIT, note: `open files raised to ${FD_LIMIT}` };
  } catch {
    const hard = /^Max open files\s+\S+\s+(\d+)/m.exec(readFileSync('/proc/self/limits', 'utf8'))?.[1];
    const limit = Number(hard ?? 1024);
    try {
      execFileSync('prlimit', ['--pid', String(process.pid), `--nofile=${limit}:${limit}`], { stdio: 'pipe' });
    } catch {
      // keep the soft limit
    }
    return { limit, note: `the open-file limit cannot be raised past its hard limit of ${limit} here (no CAP_SYS_RESOURCE)` };
  }
}

/** A proxy holds two descriptors per proxied session (client and backend) in one process (postern, today). */
function idleSessionsWithin(fdLimit: number, wanted: number): number {
  return Math.min(wanted, Math.floor((fdLimit - 100) / 2 / 50) * 50);
}

const log = (msg: string) => console.log(`[bench] ${msg}`);

function summary(run: FigureRun): string {
  const r = run.result;
  const c = run.cpu;
  const proxy = c.parties['proxy'];
  const errors = r.errors > 0 ? `errors ${r.errors} (${describeErrors(r)})` : 'errors 0';
  const cpu = `loadgen ${((100 * c.loadgenS) / c.wallS).toFixed(0)}% of a core, backend ${(c.parties['backend']?.total ?? 0).toFixed(2)} s, proxy ${proxy ? `${proxy.total.toFixed(2)} s (kernel ${proxy.sys.toFixed(2)})` : '—'}, other ${c.otherS.toFixed(2)} s`;
  switch (run.figure) {
    case 'idle': {
      const m = run.memory;
      return `${m?.ready.sessions ?? 0} sessions, ${m ? (m.perSessionRss / 1024).toFixed(1) : '?'} KiB RSS / ${m ? (m.perSessionPss / 1024).toFixed(1) : '?'} KiB PSS each, dropped ${r.dropped ?? 0}, ${m && m.ready.errors > 0 ? `${m.ready.errors} failed logins on the way (${describeErrors(m.ready)})` : 'no failed login on the way'}; ${cpu}`;
    }
    case 'fetch':
    case 'fetch-pinned':
      return `${(r.bytes_per_s / 2 ** 20).toFixed(1)} MiB/s (${r.ops} fetches, ${(r.bytes / Math.max(1, r.ops) / 1024).toFixed(0)} KiB each), ${errors}; ${cpu}; backend's busiest process: ${describeBusiest(c.busiest?.['backend'])}`;
    case 'noop':
      return `p50 ${r.p50_us} µs, p99 ${r.p99_us} µs (${r.ops} round trips), ${errors}; ${cpu}`;
    default:
      return `${r.ops_per_s.toFixed(0)} logins/s, p50 ${(r.p50_us / 1000).toFixed(2)} ms, p99 ${(r.p99_us / 1000).toFixed(2)} ms, ${errors}; ${cpu}`;
  }
}

interface World {
  tools: CTools;
  backend: Backend;
  backendPid: number;
  fake: FakeBackend;
  cert: CertFiles;
  /** The CA that signed `cert`: the proxies verify a TLS backend against it. */
  caPath: string;
  durations: Durations;
}

/**
 * One figure on one target: the target is started for it (against the backend the figure runs
 * against) and stopped after. Every target takes a figure before the next figure starts, so that
 * the machine's drift over a run (other tenants, caches, clocks) falls on all of them alike.
 */
async function measureFigure(t: Target, w: World, f: FigureId, results: TargetResults, round?: { n: number; of: number }): Promise<FigureRun | undefined> {
  const against = backendOf(f);
  // Memory per session is a proxy's: the backend has no idle figure of its own.
  if (against === 'fake' && t.id === 'direct') return undefined;
  const protocol: Protocol = against === 'pop3' ? 'pop3' : 'imap';
  const d = w.backend.dovecot.ports;
  const backendCa = against === 'imaps' ? w.caPath : undefined;
  const [backendPort, backendPid] = against === 'fake' ? [w.fake.port, w.fake.pid] : [{ pop3: d.pop3, imap: d.imap, imaps: d.imaps }[against], w.backendPid];
  const unsupported = t.unsupported?.(protocol, backendCa !== undefined);
  if (unsupported !== undefined) {
    results.skipped.set(f, unsupported);
    return undefined;
  }
  let target: Awaited<ReturnType<Target['start']>>;
  try {
    target = await t.start({ protocol, backendPort, cert: w.cert, ...(backendCa !== undefined ? { backendCa } : {}) });
  } catch (error) {
    results.skipped.set(f, `did not start: ${(error as Error).message.split('\n')[0]}`);
    log(`${t.id}: ${protocol} did not start: ${(error as Error).message}`);
    return undefined;
  }
  try {
    const ctx: FigureContext = {
      loadgen: w.tools.loadgen,
      users: USERS,
      durations: round ? roundDurations(w.durations, round.of) : w.durations,
      parties: new Map([['backend', backendPid], ...(target.pid !== undefined ? [['proxy', target.pid] as [string, number]] : [])]),
    };
    const r = await runFigure(ctx, target, f);
    log(`${t.label} ${f}${round ? ` (round ${round.n} of ${round.of})` : ''}: ${summary(r)}`);
    return r;
  } catch (error) {
    results.skipped.set(f, `failed: ${(error as Error).message.split('\n')[0]}`);
    log(`${t.label} ${f} failed: ${(error as Error).message}`);
    return undefined;
  } finally {
    await target.stop();
  }
}

function loadNote(results: readonly TargetResults[]): string {
  let worst = 0;
  let sum = 0;
  let n = 0;
  for (const r of results) {
    for (const run of r.figures.values()) {
      const cores = run.cpu.otherS / Math.max(0.001, run.cpu.wallS);
      worst = Math.max(worst, cores);
      sum += cores;
      n++;
    }
  }
  const avg = n ? sum / n : 0;
  return worst > 0.1
    ? `- **Taken with other load present**: processes outside the benchmark used on average ${avg.toFixed(2)} and at most ${worst.toFixed(2)} cores during the figures ("other CPU s" below); ratios between targets measured minutes apart carry that noise.`
    : `- The machine was otherwise quiet during the figures (other processes used at most ${worst.toFixed(2)} cores).`;
}

function runSection(opts: Options, env: Environment, results: TargetResults[], profiles: Profiles | undefined, notes: string[], minutes: number): string {
  const when = utcMinute();
  const args = process.argv.slice(2).join(' ');
  const failures = failureDetails(results);
  const rounds = roundDetails(results);
  const command = process.env['npm_lifecycle_event'] === 'bench' ? `npm run bench${args ? ` -- ${args}` : ''}` : commandLine('run.js');
  return [
    `## Run ${when} UTC${opts.short ? ' (short mode: a quick look, not figures to quote)' : ' (full)'}`,
    '',
    `- Command: \`${command}\` (${minutes.toFixed(1)} minutes)`,
    environmentMarkdown(env),
    loadNote(results),
    ...notes.map((n) => `- ${n}`),
    '',
    '### Figures',
    '',
    figuresTable(results, opts.clients),
    '',
    'Ratios are postern ÷ the other; for latency, CPU and memory lower is better. "met" checks the goal of issue 6 against this run.',
    '',
    ...(rounds !== '' ? ['Figures taken in rounds, each round:', '', rounds, ''] : []),
    '### Idle sessions',
    '',
    idleDetails(results),
    '',
    '### CPU used during each figure',
    '',
    cpuTable(results),
    '',
    ...(failures !== '' ? ['Failed connections by cause (the load generator retries each after 10 ms):', '', failures, ''] : []),
    ...(profiles ? ['### Profile of postern', '', profileMarkdown(profiles), ''] : []),
  ].join('\n');
}

async function main(): Promise<number> {
  let opts: Options;
  try {
    opts = parseArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`);
    return 2;
  }
  const missing = missingPackages();
  if (missing.length > 0) {
    for (const m of missing) console.error(`bench: ${m.message}`);
    console.error(`bench: install them (as root) with: apt-get install -y ${missing.map((m) => m.pkg).join(' ')}`);
    return 1;
  }
  const plan = planCongestion(opts.tcpCongestion, congestionControl(), process.env);
  try {
    if (plan.kind === 'rerun') {
      log(`the machine's TCP congestion control is ${plan.machine}: running again in a network namespace of its own, under ${plan.algorithm}`);
      return rerunInNamespace(plan.algorithm, plan.machine);
    }
    if (plan.kind === 'set-here') setUpNamespace(plan.algorithm);
  } catch (error) {
    console.error(`bench: ${(error as Error).message}`);
    return 1;
  }
  const t0 = Date.now();
  const env = describeEnvironment();
  env.tcp = plan.describe;
  const notes: string[] = [];
  const fd = raiseFdLimit();
  log(`load average at start: ${env.loadAtStart}; ${fd.note}`);
  const cores = availableParallelism();
  const base = opts.short ? SHORT : FULL;
  const durations = { ...base, idleSessions: idleSessionsWithin(fd.limit, base.idleSessions), loginClients: opts.clients };
  if (durations.idleSessions < base.idleSessions) {
    notes.push(`Idle figure with ${durations.idleSessions} sessions, not ${base.idleSessions}: ${fd.note}, and one postern process needs two descriptors per session.`);
  }
  const tmp = makeTempDir('bench');
  const tools = await buildCTools(tmp.path);
  const posterns = posternBuilds(opts.posternRevs ?? ['.'], tmp.path, env.postern);
  env.postern = posterns.map((p) => p.name).join(', then ');
  const pki = await getTestCerts();
  const cert = pki.server;
  log(`starting the Dovecot backend with ${USERS} users`);
  const backend = await startBackend(USERS);
  let fake: FakeBackend | undefined;
  try {
    fake = await startFakeBackend(tools.fakeBackend);
    const w: World = { tools, backend, backendPid: backend.dovecot.masterPid, fake, cert, caPath: pki.ca.certPath, durations };
    await primeBackend({ loadgen: tools.loadgen, users: USERS, durations, parties: new Map() }, backend.dovecot.ports);
    const posternTargets = await posternTargetsOf(posterns, cert, notes);
    if (posterns.length > 1) notes.push(`postern measured at ${posterns.length} revisions, each figure on each in turn; the figures table shows the last (${posterns.at(-1)!.short}), the CPU table each.`);
    const others = [dovecotProxyTarget(cores), nginxTarget()].map((t) => (opts.othersPolicy === 'batch' ? underBatch(t) : t));
    notes.push(
      opts.othersPolicy === 'batch'
        ? "Dovecot's proxy and nginx ran under SCHED_BATCH (`--others-policy batch`: `chrt --all-tasks --batch` on each of their processes once started; those forked later inherit it), as postern's workers do by default (`process.cpu_scheduling`)."
        : "postern's workers ran under SCHED_BATCH, their default (`process.cpu_scheduling`); Dovecot's proxy and nginx under the kernel's default policy, theirs (`--others-policy batch` runs them under SCHED_BATCH too; RESULTS.md item 67).",
    );
    const all: Target[] = [directTarget(backend.dovecot), ...others, ...posternTargets];
    const targets = all.filter((x) => opts.targets.includes(x.id));
    const results: TargetResults[] = targets.map((t) => ({ id: t.id, label: t.label, figures: new Map(), skipped: new Map() }));
    for (const f of ALL_FIGURES.filter((x) => opts.figures.includes(x))) {
      log(`--- ${f}`);
      // The targets take turns, round after round, in the opposite order every other round, so that no
      // target always runs first or last; a target that fails a round has the figure skipped.
      const of = ROUNDS[f] ?? 1;
      const runs: FigureRun[][] = targets.map(() => []);
      for (let n = 1; n <= of; n++) {
        const turn = [...targets.entries()];
        if (n % 2 === 0) turn.reverse();
        for (const [i, t] of turn) {
          if (results[i]!.skipped.has(f)) continue;
          const r = await measureFigure(t, w, f, results[i]!, of > 1 ? { n, of } : undefined);
          if (r !== undefined) runs[i]!.push(r);
        }
      }
      for (const [i, r] of results.entries()) if (!r.skipped.has(f) && runs[i]!.length === of) r.figures.set(f, mergeRounds(runs[i]!));
    }
    let profiles: Profiles | undefined;
    if (opts.profile && opts.targets.includes('postern')) {
      log('--- profiling postern (--cpu-prof under the login load, heap snapshots around the idle sessions)');
      const { loadgen } = tools;
      profiles = await profilePostern(posternTargets.at(-1)!, { loadgen, users: USERS, durations }, { imapPort: backend.dovecot.ports.imap, pop3Port: backend.dovecot.ports.pop3, pid: w.backendPid }, fake.port, cert);
    }
    notes.push(
      `Backend: Dovecot with ${USERS} users, login processes kept (service_count = 0), imap/pop3 processes reused 100 times; the idle figure uses the C fake backend (bench/fake-backend.c) so 10,000 sessions need no 10,000 Dovecot imap processes.`,
    );
    const section = runSection(opts, env, results, profiles, notes, (Date.now() - t0) / 60_000);
    console.log(`\n${section}`);
    if (opts.write) {
      appendResults(section);
      log(`appended to ${RESULTS_FILE}`);
    }
    return 0;
  } finally {
    await fake?.stop();
    await backend.dovecot.stop();
    tmp.remove();
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
