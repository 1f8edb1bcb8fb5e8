// What stands in the way: postern under the login load (and a large FETCH) with --cpu-prof, and with N idle sessions
// between two heap snapshots (--heapsnapshot-signal).
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { makeTempDir, pollUntil, type CertFiles } from '../test/interop/harness/index.js';
import { summarizeCpuProfile, type ProfileSummary } from './cpuprofile.js';
import { runIdle, runLogin, runStream, type FigureContext, type FigureRun } from './figures.js';
import { diffCensus, heapCensus, type HeapDiff } from './heapsnapshot.js';
import type { Target } from './targets/types.js';

export interface CpuProfileRun {
  figure: 'login-imap' | 'login-pop3' | 'login-imaps' | 'fetch';
  run: FigureRun;
  summary: ProfileSummary;
}

export interface Profiles {
  cpu: CpuProfileRun[];
  heap?: HeapDiff;
  notes: string[];
}

function newest(dir: string, suffix: string): string | undefined {
  const files = readdirSync(dir).filter((f) => f.endsWith(suffix)).map((f) => join(dir, f));
  return files.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
}

/** A heap snapshot is written synchronously; it is complete once its size stops changing and it parses. */
async function takeHeapSnapshot(pid: number, dir: string): Promise<string> {
  const known = new Set(readdirSync(dir));
  process.kill(pid, 'SIGUSR2');
  let lastSize = -1;
  return pollUntil(
    () => {
      const file = readdirSync(dir).find((f) => f.endsWith('.heapsnapshot') && !known.has(f));
      if (file === undefined) return undefined;
      const size = statSync(join(dir, file)).size;
      const stable = size > 0 && size === lastSize;
      lastSize = size;
      return stable ? join(dir, file) : undefined;
    },
    { timeoutMs: 120_000, intervalMs: 1000, what: 'the heap snapshot' },
  );
}

export async function profilePostern(
  postern: Target,
  ctx: Omit<FigureContext, 'parties'>,
  backend: { imapPort: number; pop3Port: number; pid: number },
  fakeBackendPort: number,
  cert: CertFiles,
): Promise<Profiles> {
  const dir = makeTempDir('bench-profile');
  const out: Profiles = { cpu: [], notes: [] };
  try {
    for (const figure of ['login-imap', 'login-pop3', 'login-imaps', 'fetch'] as const) {
      const profDir = join(dir.path, figure);
      const spawnedAt = Date.now(); // the profile starts with the process, within a few ms
      const pop3 = figure === 'login-pop3';
      const target = await postern.start({ protocol: pop3 ? 'pop3' : 'imap', backendPort: pop3 ? backend.pop3Port : backend.imapPort, cert, nodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] });
      let run: FigureRun;
      try {
        const c = { ...ctx, parties: new Map([['backend', backend.pid], ['proxy', target.pid!]]) };
        run = figure === 'fetch' ? await runStream(c, target, figure) : await runLogin(c, target, figure);
      } finally {
        await target.stop(); // the profile is written as postern exits
      }
      const file = existsSync(profDir) ? newest(profDir, '.cpuprofile') : undefined;
      if (file === undefined) {
        out.notes.push(`${figure}: postern exited without writing a CPU profile (killed before a clean exit?)`);
        continue;
      }
      const range = { fromMs: run.window.startMs - spawnedAt, toMs: run.window.endMs - spawnedAt };
      out.cpu.push({ figure, run, summary: summarizeCpuProfile(file, range) });
    }

    const snapDir = join(dir.path, 'heap');
    mkdirSync(snapDir, { recursive: true });
    const target = await postern.start({ protocol: 'imap', backendPort: fakeBackendPort, cert, nodeFlags: ['--heapsnapshot-signal=SIGUSR2'], cwd: snapDir });
    try {
      let beforeFile: string | undefined;
      let afterFile: string | undefined;
      const pid = target.pid!;
      // Both snapshots in the idle figure's interval: after the warm-up logins, and with every session in.
      const run = await runIdle({ ...ctx, parties: new Map([['proxy', pid]]) }, target, {
        beforeSessions: async () => {
          beforeFile = await takeHeapSnapshot(pid, snapDir);
        },
        atReady: async () => {
          afterFile = await takeHeapSnapshot(pid, snapDir);
        },
      });
      if (beforeFile !== undefined && afterFile !== undefined && run.memory !== undefined) {
        out.heap = diffCensus(heapCensus(beforeFile), heapCensus(afterFile), run.memory.ready.sessions);
      }
    } finally {
      await target.stop();
    }
  } finally {
    dir.remove();
  }
  return out;
}
