// What the processes of one party (a proxy, the backend) cost, read from /proc: CPU time of a whole
// process tree (reaped children included) and its resident memory.
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

const CLOCK_TICKS_PER_S = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface Stat {
  pid: number;
  ppid: number;
  /** utime + stime + cutime + cstime, in clock ticks. */
  ticks: number;
  /** stime + cstime: the part spent in the kernel on the process's behalf (system calls, loopback TCP). */
  sysTicks: number;
  /** utime + stime: its own, without the children it reaped (Dovecot's master reaps every imap process). */
  ownTicks: number;
  /** When it started, in clock ticks after boot. */
  startTicks: number;
  /** The CPU it last ran on. */
  processor: number;
}

function readStat(pid: number): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may hold spaces and parentheses: split after its last ')'.
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // f[0] is field 3 (state); utime..cstime are fields 14..17.
  const n = (i: number) => Number(f[i - 3]);
  return { pid, ppid: n(4), ticks: n(14) + n(15) + n(16) + n(17), sysTicks: n(15) + n(17), ownTicks: n(14) + n(15), startTicks: n(22), processor: n(39) };
}

/** Every process's /proc/<pid>/stat at one moment: what the tree readings below share, read once a mark. */
export type ProcSnapshot = readonly Stat[];

export function allStats(): Stat[] {
  const stats: Stat[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = readStat(Number(name));
    if (s !== undefined) stats.push(s);
  }
  return stats;
}

/** The process and all its descendants (Dovecot's master and its services, nginx's master and workers). */
export function processTree(root: number, stats: ProcSnapshot = allStats()): Stat[] {
  const children = new Map<number, Stat[]>();
  for (const s of stats) {
    const list = children.get(s.ppid);
    if (list) list.push(s);
    else children.set(s.ppid, [s]);
  }
  const rootStat = stats.find((s) => s.pid === root);
  if (rootStat === undefined) return [];
  const out: Stat[] = [];
  const queue = [rootStat];
  while (queue.length > 0) {
    const s = queue.shift()!;
    out.push(s);
    queue.push(...(children.get(s.pid) ?? []));
  }
  return out;
}

export interface TreeCpu {
  /** All CPU seconds, user and kernel. */
  total: number;
  /** The kernel's part of them. */
  sys: number;
}

/** CPU seconds used so far by each tree (a child's time moves to its parent's cutime when reaped). */
export function treeCpuSeconds(roots: ReadonlyMap<string, number>, stats: ProcSnapshot = allStats()): Map<string, TreeCpu> {
  const out = new Map<string, TreeCpu>();
  for (const [name, pid] of roots) {
    const tree = processTree(pid, stats);
    const sum = (get: (s: Stat) => number) => tree.reduce((n, s) => n + get(s), 0) / CLOCK_TICKS_PER_S;
    out.set(name, { total: sum((s) => s.ticks), sys: sum((s) => s.sysTicks) });
  }
  return out;
}

/** A process of a tree at one moment: its own CPU ticks so far, and when it started (ticks after boot). */
export interface ProcessMark {
  ticks: number;
  startTicks: number;
  processor: number;
}

/** Each process of each tree, by pid: what `busiestBetween` compares. */
export function treeProcesses(roots: ReadonlyMap<string, number>, stats: ProcSnapshot = allStats()): Map<string, Map<number, ProcessMark>> {
  const out = new Map<string, Map<number, ProcessMark>>();
  for (const [name, pid] of roots) out.set(name, new Map(processTree(pid, stats).map((s) => [s.pid, { ticks: s.ownTicks, startTicks: s.startTicks, processor: s.processor }])));
  return out;
}

/** The process of a tree that used the most CPU between two marks. */
export interface Busiest {
  pid: number;
  comm: string;
  /** CPU seconds it used between the marks. */
  seconds: number;
  /** Its age at the first mark, in seconds; negative when it started after it. */
  ageS: number;
  /** The CPU it ran on last, at the second mark. */
  processor: number;
}

/** Seconds since boot, as /proc/uptime has them. */
export function uptimeSeconds(): number {
  return Number(readFileSync('/proc/uptime', 'utf8').split(' ')[0]);
}

/**
 * Which process did a party's work between two marks (`startUptimeS`: the first mark's uptime): the
 * backend's `imap` process serving a FETCH figure's one session, say. Undefined for a tree that used
 * no CPU meanwhile.
 */
export function busiestBetween(a: ReadonlyMap<number, ProcessMark>, b: ReadonlyMap<number, ProcessMark>, startUptimeS: number): Busiest | undefined {
  let best: { pid: number; ticks: number; mark: ProcessMark } | undefined;
  for (const [pid, end] of b) {
    const before = a.get(pid);
    // A pid seen at both marks with another start time is another process that reused the number.
    const used = end.ticks - (before !== undefined && before.startTicks === end.startTicks ? before.ticks : 0);
    if (used > 0 && (best === undefined || used > best.ticks)) best = { pid, ticks: used, mark: end };
  }
  if (best === undefined) return undefined;
  let comm = '?';
  try {
    comm = readFileSync(`/proc/${best.pid}/comm`, 'utf8').trim();
  } catch {
    // gone
  }
  return { pid: best.pid, comm, seconds: best.ticks / CLOCK_TICKS_PER_S, ageS: startUptimeS - best.mark.startTicks / CLOCK_TICKS_PER_S, processor: best.mark.processor };
}

/** Busy CPU seconds of the whole machine (all cores) so far, from /proc/stat. */
export function machineBusySeconds(): number {
  const line = readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '';
  // cpu user nice system idle iowait irq softirq steal ...
  const [user, nice, system, , , irq, softirq, steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return ((user ?? 0) + (nice ?? 0) + (system ?? 0) + (irq ?? 0) + (softirq ?? 0) + (steal ?? 0)) / CLOCK_TICKS_PER_S;
}

function statusKb(pid: number, file: string, key: string): number {
  try {
    const m = new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${pid}/${file}`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

export interface TreeMemory {
  processes: number;
  /** Sum of VmRSS over the tree (shared pages counted once per process). */
  rssBytes: number;
  /** Sum of Pss (shared pages split between their users). */
  pssBytes: number;
}

export function treeMemory(root: number): TreeMemory {
  const tree = processTree(root);
  let rss = 0;
  let pss = 0;
  for (const s of tree) {
    rss += statusKb(s.pid, 'status', 'VmRSS');
    pss += statusKb(s.pid, 'smaps_rollup', 'Pss');
  }
  return { processes: tree.length, rssBytes: rss * 1024, pssBytes: pss * 1024 };
}

/** Sorted distinct process names of a tree, e.g. for the notes ("imap-login ×4, auth, anvil, ..."). */
export function treeCommands(root: number): string[] {
  const counts = new Map<string, number>();
  for (const s of processTree(root)) {
    let comm = '?';
    try {
      comm = readFileSync(`/proc/${s.pid}/comm`, 'utf8').trim();
    } catch {
      // gone
    }
    counts.set(comm, (counts.get(comm) ?? 0) + 1);
  }
  return [...counts].sort().map(([name, n]) => (n > 1 ? `${name} ×${n}` : name));
}

/** Runs `command` with `args` and each process of a tree's pid last; a process that exits meanwhile is passed over. */
function eachOfTree(root: number, command: string, args: readonly string[]): void {
  for (const s of processTree(root)) {
    try {
      execFileSync(command, [...args, String(s.pid)], { stdio: 'ignore' });
    } catch {
      // gone, or a thread that exited between the listing and the call
    }
  }
}

/**
 * Binds every thread of a process tree to `cpus` (taskset's list, e.g. `1` or `0-3`); children forked
 * later inherit it from their parent.
 */
export function pinTree(root: number, cpus: string): void {
  eachOfTree(root, 'taskset', ['--all-tasks', '--cpu-list', '--pid', cpus]);
}

/** Puts every thread of a process tree under SCHED_BATCH; children forked later inherit it from their parent. */
export function batchTree(root: number): void {
  eachOfTree(root, 'chrt', ['--all-tasks', '--batch', '--pid', '0']);
}
