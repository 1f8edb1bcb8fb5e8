// The figures table (with postern/Dovecot, postern/nginx, postern/direct ratios and the goals of
// issue 6), the CPU table, and the profile summary, as Markdown.
import { ratesBytes, type FigureId, type FigureRun } from './figures.js';
import { describeErrors } from './loadgen.js';
import type { Busiest, TreeCpu } from './procstat.js';
import type { Profiles } from './profile.js';
import type { TargetId } from './targets/types.js';

export interface TargetResults {
  id: TargetId;
  label: string;
  figures: Map<FigureId, FigureRun>;
  /** Figures not measured, and why. */
  skipped: Map<FigureId, string>;
}

type Value = number | undefined;
type Get = (r: TargetResults | undefined, all: ReadonlyMap<TargetId, TargetResults>) => Value;

interface Row {
  label: string;
  better: 'higher' | 'lower';
  digits: number;
  get: Get;
  /** The goal of issue 6 for postern, and whether a run meets it. */
  goal?: string;
  met?: (p: Value, all: ReadonlyMap<TargetId, TargetResults>) => boolean | undefined;
}

const fig = (r: TargetResults | undefined, f: FigureId) => r?.figures.get(f);
const rate = (f: FigureId): Get => (r) => fig(r, f)?.result.ops_per_s;
const latencyMs = (f: FigureId, p: 'p50_us' | 'p99_us'): Get => (r) => {
  const x = fig(r, f)?.result;
  return x && x.samples > 0 ? x[p] / 1000 : undefined;
};
/** Microseconds per operation, or undefined without the seconds or any operation. */
const perOpUs = (seconds: number | undefined, ops: number) => (seconds !== undefined && ops > 0 ? (seconds / ops) * 1e6 : undefined);
/**
 * The proxy's own CPU time per operation, in microseconds: all of it, or the kernel's part (system
 * calls and, on loopback, TCP's work for both ends: the floor every proxy pays).
 */
const proxyCpuPerOp = (f: FigureId, part: keyof TreeCpu = 'total'): Get => (r) => {
  const x = fig(r, f);
  return x && perOpUs(x.cpu.parties['proxy']?.[part], x.result.ops);
};
const of = (all: ReadonlyMap<TargetId, TargetResults>, id: TargetId, get: Get) => get(all.get(id), all);
const atLeast = (p: Value, ref: Value, k: number) => (p === undefined || ref === undefined ? undefined : p >= k * ref);
const atMost = (p: Value, ref: Value, k: number) => (p === undefined || ref === undefined ? undefined : p <= k * ref);

function loginRows(f: FigureId, name: string, clients: number, goal?: string, met?: Row['met']): Row[] {
  return [
    { label: `${name} logins/s (${clients} client${clients === 1 ? '' : 's'})`, better: 'higher', digits: 0, get: rate(f), ...(goal && met ? { goal, met } : {}) },
    { label: `${name} login p50 (ms)`, better: 'lower', digits: 2, get: latencyMs(f, 'p50_us') },
    {
      label: `${name} login p99 (ms)`, better: 'lower', digits: 2, get: latencyMs(f, 'p99_us'),
      ...(f === 'login-imap' || f === 'login-pop3' ? { goal: '< Dovecot', met: (p: Value, all: ReadonlyMap<TargetId, TargetResults>) => { const d = of(all, 'dovecot', latencyMs(f, 'p99_us')); return p === undefined || d === undefined ? undefined : p < d; } } : {}),
    },
    {
      label: `proxy CPU per ${name} login (µs)`, better: 'lower', digits: 0, get: proxyCpuPerOp(f),
      ...(f === 'login-imap' || f === 'login-pop3' ? { goal: '≤ 0.5× Dovecot', met: (p: Value, all: ReadonlyMap<TargetId, TargetResults>) => atMost(p, of(all, 'dovecot', proxyCpuPerOp(f)), 0.5) } : {}),
    },
    { label: `proxy CPU in the kernel per ${name} login (µs)`, better: 'lower', digits: 0, get: proxyCpuPerOp(f, 'sys') },
  ];
}

const loginGoal = (f: FigureId): Row['met'] => (p, all) => {
  const d = atLeast(p, of(all, 'direct', rate(f)), 0.9);
  const v = atLeast(p, of(all, 'dovecot', rate(f)), 1.35);
  return d === undefined || v === undefined ? (d ?? v) : d && v;
};

const mibPerS = (f: FigureId): Get => (r) => { const x = fig(r, f)?.result; return x ? x.bytes_per_s / 2 ** 20 : undefined; };
const fetchRows = (f: FigureId, label: string, cpuLabel: string): Row[] => [
  { label, better: 'higher', digits: 1, get: mibPerS(f), goal: '≥ 0.9× direct', met: (p, all) => atLeast(p, of(all, 'direct', mibPerS(f)), 0.9) },
  { label: cpuLabel, better: 'lower', digits: 0, get: proxyCpuPerOp(f) },
];

const noopP50: Get = (r) => { const x = fig(r, 'noop')?.result; return x && x.samples > 0 ? x.p50_us : undefined; };
const noopP99: Get = (r) => { const x = fig(r, 'noop')?.result; return x && x.samples > 0 ? x.p99_us : undefined; };

/** One client logging in at a time (figures.ts, LOGIN_FLAGS): a login's latency with no queue, where a stall on a timer shows. */
const oneClientRows = (f: FigureId, name: string): Row[] => [
  { label: `${name} one client: logins/s`, better: 'higher', digits: 0, get: rate(f) },
  { label: `${name} one client: login p50 (ms)`, better: 'lower', digits: 2, get: latencyMs(f, 'p50_us') },
  { label: `${name} one client: login p99 (ms)`, better: 'lower', digits: 2, get: latencyMs(f, 'p99_us') },
];

/** The table's rows; `clients`: how many clients log in at once in the login figures (50 unless `--clients`). */
export const rows = (clients: number): Row[] => [
  ...loginRows('login-imap', 'IMAP', clients, '≥ 0.9× direct, ≥ 1.35× Dovecot', loginGoal('login-imap')),
  ...loginRows('login-pop3', 'POP3', clients, '≥ 0.9× direct, ≥ 1.35× Dovecot', loginGoal('login-pop3')),
  ...oneClientRows('login-imap-1', 'IMAP'),
  ...oneClientRows('login-pop3-1', 'POP3'),
  ...loginRows('login-imaps', 'IMAPS', clients, '≥ 1.25× Dovecot', (p, all) => atLeast(p, of(all, 'dovecot', rate('login-imaps')), 1.25)),
  // Not goals of issue 6: clients that reconnect with a session ticket, and how most IMAP clients on port 143 arrive.
  ...loginRows('login-imaps-resume', 'IMAPS resumed', clients),
  ...loginRows('login-starttls', 'IMAP STARTTLS', clients),
  ...loginRows('login-imaps-backend-tls', 'IMAPS to a TLS backend', clients),
  {
    label: 'memory per idle session (KiB, RSS)', better: 'lower', digits: 1,
    get: (r) => { const m = fig(r, 'idle')?.memory; return m ? m.perSessionRss / 1024 : undefined; },
    goal: '≤ 16 KiB', met: (p) => (p === undefined ? undefined : p <= 16),
  },
  { label: 'memory per idle session (KiB, PSS)', better: 'lower', digits: 1, get: (r) => { const m = fig(r, 'idle')?.memory; return m ? m.perSessionPss / 1024 : undefined; } },
  ...fetchRows('fetch', 'FETCH 1 MB BODY[] (MiB/s)', 'proxy CPU per FETCH (µs)'),
  // The same with the backend on a core of its own (figures.ts, runFetchPinned): the proxy's rate without the scheduler's placement.
  ...fetchRows('fetch-pinned', 'FETCH 1 MB BODY[], backend on its own core (MiB/s)', 'proxy CPU per pinned FETCH (µs)'),
  { label: 'NOOP round trip p50 (µs)', better: 'lower', digits: 0, get: noopP50 },
  { label: 'NOOP round trip p99 (µs)', better: 'lower', digits: 0, get: noopP99 },
  {
    label: 'NOOP p50 added by the proxy (µs)', better: 'lower', digits: 0,
    get: (r, all) => { const p = noopP50(r, all); const d = of(all, 'direct', noopP50); return r?.id === 'direct' || p === undefined || d === undefined ? undefined : p - d; },
    goal: '≤ 25 µs', met: (p) => (p === undefined ? undefined : p <= 25),
  },
];

const ORDER: TargetId[] = ['direct', 'dovecot', 'nginx', 'postern'];
const NAMES: Record<TargetId, string> = { direct: 'direct', dovecot: 'Dovecot proxy', nginx: 'nginx', postern: 'postern' };

/** postern measured at several revisions in one run is told apart by its label. */
const nameOf = (r: TargetResults) => (r.id === 'postern' ? r.label : NAMES[r.id]);

function fmt(v: Value, digits: number): string {
  if (v === undefined || !Number.isFinite(v)) return '—';
  return v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function ratio(p: Value, other: Value, signed = false): string {
  if (p === undefined || other === undefined || other === 0 || (!signed && (p < 0 || other < 0))) return '—';
  return `${(p / other).toFixed(2)}×`;
}

function row(cells: string[]): string {
  return `| ${cells.join(' | ')} |`;
}

export function figuresTable(results: readonly TargetResults[], clients: number): string {
  const all = new Map(results.map((r) => [r.id, r]));
  const lines = [
    row(['figure', ...ORDER.map((id) => NAMES[id]), 'postern/Dovecot', 'postern/nginx', 'postern/direct', 'goal (issue 6)', 'met']),
    row(Array(10).fill('---')),
  ];
  for (const r of rows(clients)) {
    const v = (id: TargetId) => r.get(all.get(id), all);
    const p = v('postern');
    const met = r.met?.(p, all);
    const added = r.label.includes('added');
    lines.push(
      row([
        r.label,
        ...ORDER.map((id) => fmt(v(id), r.digits)),
        ratio(p, v('dovecot')),
        ratio(p, v('nginx')),
        added ? '—' : ratio(p, v('direct')),
        r.goal ?? '',
        met === undefined ? (r.goal ? '—' : '') : met ? 'yes' : 'no',
      ]),
    );
  }
  return lines.join('\n');
}

export function cpuTable(results: readonly TargetResults[]): string {
  const lines = [
    row(['target', 'figure', 'wall s', 'ops', 'errors', 'loadgen CPU s', 'backend CPU s', 'proxy CPU s', 'other CPU s', 'proxy µs/op', 'of which in the kernel']),
    row(Array(11).fill('---')),
  ];
  for (const r of results) {
    for (const [f, run] of r.figures) {
      const c = run.cpu;
      const proxy = c.parties['proxy'];
      const ops = f === 'idle' ? (run.memory?.ready.sessions ?? run.result.ops) : run.result.ops;
      lines.push(
        row([
          nameOf(r), f, c.wallS.toFixed(1), f === 'login-imaps-resume' ? `${ops} (${run.result.resumed ?? 0} resumed)` : String(ops), String(run.result.errors), `${c.loadgenS.toFixed(2)} (${((100 * c.loadgenS) / c.wallS).toFixed(0)}%)`,
          fmt(c.parties['backend']?.total, 2), fmt(proxy?.total, 2), c.otherS.toFixed(2), fmt(perOpUs(proxy?.total, ops), 0), fmt(perOpUs(proxy?.sys, ops), 0),
        ]),
      );
    }
    for (const [f, why] of r.skipped) lines.push(row([nameOf(r), f, `skipped: ${why}`, '', '', '', '', '', '', '', '']));
  }
  return lines.join('\n');
}

/** One line per figure whose load generator saw failed connections, with their causes; "" if none did. */
export function failureDetails(results: readonly TargetResults[]): string {
  const lines: string[] = [];
  for (const r of results) {
    for (const [f, run] of r.figures) {
      const why = describeErrors(run.result);
      if (why !== '') lines.push(`- ${nameOf(r)} ${f}: ${run.result.errors} failed connections: ${why}`);
    }
  }
  return lines.join('\n');
}

/** "imap 4242, 31 s old, 2.61 CPU s, last on CPU 1": which process served a round's session. */
export function describeBusiest(b: Busiest | undefined): string {
  if (b === undefined) return '—';
  const age = b.ageS < 0 ? `started ${(-b.ageS).toFixed(1)} s into the round` : `${b.ageS.toFixed(1)} s old`;
  return `${b.comm} ${b.pid}, ${age}, ${b.seconds.toFixed(2)} CPU s, last on CPU ${b.processor}`;
}

/** Each round of the figures taken in rounds (figures.ts, ROUNDS), by target: the spread behind the sums. */
export function roundDetails(results: readonly TargetResults[]): string {
  const lines: string[] = [];
  for (const r of results) {
    for (const [f, run] of r.figures) {
      if (run.rounds === undefined) continue;
      const bytes = ratesBytes(run.result);
      if (run.result.mode === 'noop') {
        lines.push(`- ${nameOf(r)} ${f}: p50 ${(run.roundP50s ?? []).join(', ')} µs (rounds in turn with the other targets; the tables give their median)`);
        continue;
      }
      const each = run.rounds.map((x) => (bytes ? (x / 2 ** 20).toFixed(1) : x.toFixed(0))).join(', ');
      lines.push(`- ${nameOf(r)} ${f}: ${each} ${bytes ? 'MiB/s' : 'a second'} (rounds in turn with the other targets; the tables give their sum)`);
      const backends = run.roundBackends ?? [];
      // A FETCH round is one backend process's; a login round spreads over many.
      if (bytes && backends.some((b) => b !== undefined)) lines.push(`  - the backend's busiest process each round: ${backends.map(describeBusiest).join('; ')}`);
    }
  }
  return lines.join('\n');
}

export function idleDetails(results: readonly TargetResults[]): string {
  return results
    .flatMap((r) => {
      const m = r.figures.get('idle')?.memory;
      if (!m) return [];
      const mib = (b: number) => (b / 2 ** 20).toFixed(1);
      return [`- ${nameOf(r)}: ${m.ready.sessions}/${m.ready.wanted} sessions in ${m.ready.seconds.toFixed(1)} s (${m.ready.errors} errors${m.ready.errors > 0 ? `: ${describeErrors(m.ready)}` : ''}, ${r.figures.get('idle')?.result.dropped ?? 0} dropped); ${m.before.processes}→${m.after.processes} processes; RSS ${mib(m.before.rssBytes)}→${mib(m.after.rssBytes)} MiB, PSS ${mib(m.before.pssBytes)}→${mib(m.after.pssBytes)} MiB`];
    })
    .join('\n');
}

export function profileMarkdown(p: Profiles): string {
  const out: string[] = [];
  for (const c of p.cpu) {
    const s = c.summary;
    const r = c.run.result;
    const rate = c.figure === 'fetch' ? `${(r.bytes_per_s / 2 ** 20).toFixed(1)} MiB/s` : `${r.ops_per_s.toFixed(0)} logins/s`;
    out.push(
      `#### CPU profile, ${c.figure} (${rate} under --cpu-prof; ${(s.busyMs / 1000).toFixed(1)} s busy of ${(s.totalMs / 1000).toFixed(1)} s sampled)`,
      '',
      'Self time by kind of code:',
      '',
      row(['kind', 'ms', 'share of busy']),
      row(['---', '---', '---']),
      ...s.categories.slice(0, 12).map((k) => row([k.category, k.ms.toFixed(0), `${(100 * k.share).toFixed(1)}%`])),
      '',
      'Top functions by self time:',
      '',
      row(['function', 'where', 'ms', 'share of busy']),
      row(['---', '---', '---', '---']),
      ...s.top.slice(0, 20).map((f) => row([`\`${f.name}\``, `\`${f.where}\``, f.ms.toFixed(0), `${(100 * f.share).toFixed(1)}%`])),
      '',
    );
  }
  if (p.heap) {
    const h = p.heap;
    out.push(
      `#### Heap per idle session (${h.sessions} sessions; JS heap ${(h.totalBefore / 2 ** 20).toFixed(1)} → ${(h.totalAfter / 2 ** 20).toFixed(1)} MiB, ${(h.bytesPerSession / 1024).toFixed(1)} KiB per session)`,
      '',
      row(['kind', 'bytes/session', 'objects/session']),
      row(['---', '---', '---']),
      ...h.top.map((k) => row([`\`${k.kind.replace(/\|/g, '\\|').slice(0, 80)}\``, k.bytesPerSession.toFixed(0), k.countPerSession.toFixed(2)])),
      '',
    );
  }
  for (const n of p.notes) out.push(`- ${n}`);
  return out.join('\n');
}
