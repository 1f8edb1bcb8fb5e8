// Reads a V8 .cpuprofile (node --cpu-prof) into self time per function and per kind of code.
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
  startTime: number;
  endTime: number;
}

export interface SelfTime {
  name: string;
  /** Where it is: src/imap/front/session.js:120, node:internal/tls/wrap:1056, (native). */
  where: string;
  category: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  totalMs: number;
  /** Share of samples that were not idle. */
  busyMs: number;
  top: SelfTime[];
  categories: Array<{ category: string; ms: number; share: number }>;
}

function where(url: string, line: number): string {
  if (url === '') return '(native)';
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return `${url.slice(dist + 6)}:${line + 1}`;
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return `${url.slice(modules + 14)}:${line + 1}`;
  return `${url}:${line + 1}`;
}

function category(name: string, url: string): string {
  if (name === '(garbage collector)') return 'garbage collection';
  if (name === '(idle)') return 'idle';
  if (name === '(program)') return 'V8/libuv outside JS ((program))';
  if (url.includes('/node_modules/')) return `dependency ${/\/node_modules\/((@[^/]+\/)?[^/]+)/.exec(url)?.[1] ?? ''}`;
  if (url.includes('/dist/src/')) return `postern ${/\/dist\/src\/([^/]+)/.exec(url)?.[1] ?? ''}/`;
  if (url.startsWith('node:internal/tls') || url.startsWith('node:tls') || url.startsWith('node:_tls')) return 'node tls';
  if (url.startsWith('node:internal/streams') || url.startsWith('node:stream')) return 'node streams';
  if (url.startsWith('node:net') || url.startsWith('node:internal/net') || url.startsWith('node:internal/stream_base')) return 'node net';
  if (url.startsWith('node:')) return 'node other';
  if (url === '') return `native ${name}`;
  return 'other';
}

/** Only samples from `fromMs` to `toMs` after the profile started count (start-up and shutdown are left out). */
/** Native calls are mostly system calls; what they do is told by who called them. */
function nativeCategory(name: string, callerUrl: string): string {
  if (callerUrl.includes('stream_base_commons') || callerUrl.startsWith('node:net') || callerUrl.includes('tls')) return 'native socket calls (syscalls, loopback TCP)';
  if (callerUrl.startsWith('node:fs') || callerUrl.includes('sonic-boom') || callerUrl.includes('/pino/')) return 'native file writes (the log)';
  return `native ${name}`;
}

export function summarizeCpuProfile(file: string, range: { fromMs: number; toMs: number }, topN = 25): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parentOf = new Map<number, ProfileNode>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parentOf.set(c, n);
  const selfUs = new Map<number, number>();
  let t = 0;
  profile.samples.forEach((id, i) => {
    const delta = profile.timeDeltas[i] ?? 0;
    t += delta;
    if (t < range.fromMs * 1000 || t > range.toMs * 1000) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  });
  const fns = new Map<string, SelfTime>();
  const cats = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, us] of selfUs) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const { functionName, url, lineNumber } = node.callFrame;
    // A native function (a syscall wrapper such as writeBuffer) is named with its JS caller: the same
    // binding serves sockets and files.
    const caller = url === '' && !functionName.startsWith('(') ? parentOf.get(id)?.callFrame : undefined;
    const name = `${functionName || '(anonymous)'}${caller ? ` ← ${caller.functionName || '(anonymous)'} ${where(caller.url, caller.lineNumber)}` : ''}`;
    const cat = caller ? nativeCategory(functionName, caller.url) : category(functionName || '(anonymous)', url);
    total += us;
    if (cat === 'idle') {
      idle += us;
      continue;
    }
    cats.set(cat, (cats.get(cat) ?? 0) + us);
    const key = `${name}@${url}:${lineNumber}`;
    const entry = fns.get(key) ?? { name, where: where(url, lineNumber), category: cat, ms: 0, share: 0 };
    entry.ms += us / 1000;
    fns.set(key, entry);
  }
  const busy = total - idle;
  const top = [...fns.values()].sort((a, b) => b.ms - a.ms).slice(0, topN).map((f) => ({ ...f, share: f.ms / (busy / 1000) }));
  const categories = [...cats].map(([c, us]) => ({ category: c, ms: us / 1000, share: us / busy })).sort((a, b) => b.ms - a.ms);
  return { totalMs: total / 1000, busyMs: busy / 1000, top, categories };
}
