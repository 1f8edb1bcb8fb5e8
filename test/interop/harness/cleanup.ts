// Process-wide safety net: whatever a test forgets (or cannot reach because it threw), children are
// SIGKILLed and temp folders removed when this Node process ends: by 'exit'/signal hooks here, and by a
// watchdog process (watchdog.ts) for deaths that skip them.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

type SyncHook = () => void;

const hooks = new Set<SyncHook>();
let installed = false;

function runAll(): void {
  for (const hook of [...hooks].reverse()) {
    try {
      hook();
    } catch {
      // best effort: the process is going away
    }
  }
  hooks.clear();
}

function install(): void {
  if (installed) return;
  installed = true;
  process.on('exit', runAll);
  // 'exit' does not fire on signals; clean up, then re-raise so the default action still applies.
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(signal, () => {
      runAll();
      process.kill(process.pid, signal);
    });
  }
}

/** Registers a synchronous last-resort hook; returns a function that unregisters it. */
export function onProcessExit(hook: SyncHook): () => void {
  install();
  hooks.add(hook);
  return () => {
    hooks.delete(hook);
  };
}

let watchdog: ChildProcess | undefined;
let watchdogTried = false;

function tellWatchdog(message: { op: 'add' | 'del'; group?: number; dir?: string }): void {
  if (!watchdogTried) {
    watchdogTried = true;
    const script = fileURLToPath(new URL('./watchdog.js', import.meta.url));
    if (existsSync(script)) {
      watchdog = spawn(process.execPath, [script], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
      watchdog.on('error', () => {
        watchdog = undefined;
      });
      watchdog.stdin?.on('error', () => undefined);
      watchdog.unref(); // neither it nor its pipe keeps the test process alive
      (watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.();
    }
  }
  watchdog?.stdin?.write(`${JSON.stringify(message)}\n`);
}

/** SIGKILLs the process group when this process ends, however it ends; returns an unregister function. */
export function guardProcessGroup(pgid: number): () => void {
  tellWatchdog({ op: 'add', group: pgid });
  const unregister = onProcessExit(() => {
    try {
      process.kill(-pgid, 'SIGKILL');
    } catch {
      // group already gone
    }
  });
  return () => {
    unregister();
    tellWatchdog({ op: 'del', group: pgid });
  };
}

export interface TempDir {
  path: string;
  /** Idempotent. */
  remove(): void;
}

const keepTemp = (): boolean => process.env['POSTERN_KEEP_TMP'] === '1';

/** A fresh folder under os.tmpdir(), removed by remove() or when the process ends
 * (kept, and its path printed, when POSTERN_KEEP_TMP=1: for debugging a failing suite). */
export function makeTempDir(prefix: string): TempDir {
  const path = mkdtempSync(join(tmpdir(), `postern-${prefix}-`));
  if (!keepTemp()) tellWatchdog({ op: 'add', dir: path });
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    unregister();
    if (keepTemp()) {
      console.log(`kept ${path}`);
      return;
    }
    tellWatchdog({ op: 'del', dir: path });
    rmSync(path, { recursive: true, force: true, maxRetries: 3 });
  };
  const unregister = onProcessExit(remove);
  return { path, remove };
}
