// Child processes for interop tests: output captured, bounded waits, idempotent stop(),
// and a SIGKILL of the whole process group if the test process ends first.
import { spawn, type ChildProcess } from 'node:child_process';
import { guardProcessGroup } from './cleanup.js';
import { HarnessTimeoutError, withTimeout } from './wait.js';

export interface SpawnOptions {
  cwd?: string;
  /** Merged over process.env. */
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Buffer;
  /** Signal for a graceful stop (default SIGTERM). */
  stopSignal?: NodeJS.Signals;
  /** Grace period before SIGKILL (default 5000 ms). */
  stopTimeoutMs?: number;
  /**
   * How long the rest of the process group may outlive the leader's exit before SIGKILL (default 0):
   * for children that still write on the way out (valgrind's counts).
   */
  stragglerGraceMs?: number;
  /**
   * How long stdout and stderr may stay open after the leader's exit before `exited` settles without
   * them (default 10 s, or stragglerGraceMs when longer): a descendant that left the group keeps them.
   */
  stdioGraceMs?: number;
  /** Per-stream cap on captured output (default 4 MiB); the tail is dropped. */
  maxOutputBytes?: number;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when the process could not be started (e.g. ENOENT). */
  error?: Error;
}

export interface ManagedProcess {
  readonly pid: number | undefined;
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** stdout then stderr. */
  output(): string;
  readonly exited: Promise<ExitInfo>;
  /** Undefined while running. */
  exitInfo(): ExitInfo | undefined;
  /** First match in stdout+stderr; rejects on timeout or if the process exits without a match. */
  waitForOutput(pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray>;
  /** Graceful signal, SIGKILL to the process group after the grace period. Idempotent. */
  stop(): Promise<ExitInfo>;
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, signal);
  } catch {
    // group already gone
  }
}

function groupAlive(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** What to spawn: a command, under a wrapper or not, and how long its stop may take. */
export interface Wrapped {
  command: string;
  args: string[];
  stop: Pick<SpawnOptions, 'stopTimeoutMs' | 'stragglerGraceMs'>;
}

/**
 * `command` under `wrap` (valgrind and its options, say), if any. A wrapped process tree is given a
 * minute to stop, its children a minute after the leader: they write their counts on the way out.
 */
export function wrapped(wrap: readonly string[] | undefined, command: string, args: readonly string[], stopTimeoutMs: number): Wrapped {
  if (wrap === undefined) return { command, args: [...args], stop: { stopTimeoutMs } };
  const [first, ...rest] = [...wrap, command, ...args];
  return { command: first!, args: rest, stop: { stopTimeoutMs: 60_000, stragglerGraceMs: 60_000 } };
}

/**
 * The environment a spawned process gets: ours with `extra` over it. A preloaded library (the sanitizer
 * runtimes of test/native-sanitizers.test.ts) stays with node: Dovecot's processes run under an
 * address-space limit a sanitizer cannot map its shadow memory in, and the peers are not under test.
 */
function peerEnv(command: string, extra: Record<string, string | undefined> | undefined): NodeJS.ProcessEnv {
  const env = { ...process.env, ...extra };
  if (command !== process.execPath) delete env['LD_PRELOAD'];
  return env;
}

const STDIO_GRACE_MS = 10_000;

/** Spawns `command` as the leader of a new process group (so its children can be killed with it). */
export function spawnProcess(command: string, args: readonly string[], opts: SpawnOptions = {}): ManagedProcess {
  const maxBytes = opts.maxOutputBytes ?? 4 * 1024 * 1024;
  const child = spawn(command, args, {
    cwd: opts.cwd,
    env: peerEnv(command, opts.env),
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: true, // new process group; see killGroup
  });
  const pid = child.pid;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const sizes = { out: 0, err: 0 };
  const listeners = new Set<() => void>();
  const collect = (chunks: Buffer[], key: 'out' | 'err') => (chunk: Buffer) => {
    if (sizes[key] < maxBytes) {
      chunks.push(chunk);
      sizes[key] += chunk.length;
    }
    for (const listener of listeners) listener();
  };
  child.stdout?.on('data', collect(out, 'out'));
  child.stderr?.on('data', collect(err, 'err'));
  if (opts.input !== undefined && child.stdin) {
    child.stdin.on('error', () => undefined); // the child may exit without reading
    child.stdin.end(opts.input);
  }

  let info: ExitInfo | undefined;
  const unregister = pid === undefined ? () => undefined : guardProcessGroup(pid);
  let stdioTimer: NodeJS.Timeout | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    const finish = (result: ExitInfo): void => {
      if (info !== undefined) return;
      clearTimeout(stdioTimer);
      info = result;
      unregister();
      for (const listener of listeners) listener();
      resolve(result);
    };
    child.once('error', (error) => {
      if (pid === undefined) finish({ code: null, signal: null, error });
    });
    // 'close' waits for the stdio streams, so all output has been collected.
    child.once('close', (code, signal) => finish({ code, signal }));
    // A descendant outside the group that kept stdout or stderr open would hold 'close' for as long as it
    // lives: after the exit, the streams get STDIO_GRACE_MS to end, then are let go.
    child.once('exit', (code, signal) => {
      stdioTimer = setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish({ code, signal });
      }, opts.stdioGraceMs ?? Math.max(STDIO_GRACE_MS, opts.stragglerGraceMs ?? 0));
    });
  });

  const stdout = (): string => Buffer.concat(out).toString('utf8');
  const stderr = (): string => Buffer.concat(err).toString('utf8');
  const output = (): string => stdout() + stderr();

  const waitForOutput = (pattern: RegExp, timeoutMs: number): Promise<RegExpExecArray> =>
    new Promise((resolve, reject) => {
      const regex = new RegExp(pattern.source, pattern.flags.replace('g', ''));
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        const match = regex.exec(output());
        if (match !== null) return settle(() => resolve(match));
        if (info !== undefined) {
          settle(() => reject(new Error(`${command} exited (${JSON.stringify(info)}) before printing ${regex}:\n${output()}`)));
        }
      };
      const settle = (fn: () => void): void => {
        clearTimeout(timer);
        listeners.delete(check);
        fn();
      };
      timer = setTimeout(
        () => settle(() => reject(new HarnessTimeoutError(`${command}: no ${regex} in output after ${timeoutMs} ms:\n${output()}`))),
        timeoutMs,
      );
      listeners.add(check);
      check();
    });

  let stopping: Promise<ExitInfo> | undefined;
  const stop = (): Promise<ExitInfo> => {
    stopping ??= (async () => {
      if (info === undefined && pid !== undefined) {
        try {
          process.kill(pid, opts.stopSignal ?? 'SIGTERM');
        } catch {
          // already exited
        }
        try {
          await withTimeout(exited, opts.stopTimeoutMs ?? 5000, `${command} to exit`);
        } catch {
          killGroup(pid, 'SIGKILL');
        }
      }
      const result = await exited;
      if (pid !== undefined) {
        const until = Date.now() + (opts.stragglerGraceMs ?? 0);
        while (Date.now() < until && groupAlive(pid)) await new Promise((r) => setTimeout(r, 50));
      }
      killGroup(pid, 'SIGKILL'); // stragglers the leader left behind
      return result;
    })();
    return stopping;
  };

  return { pid, child, stdout, stderr, output, exited, exitInfo: () => info, waitForOutput, stop };
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface RunOptions extends Omit<SpawnOptions, 'stopSignal' | 'stopTimeoutMs'> {
  /** Default 30000 ms; the process is then killed and timedOut set. */
  timeoutMs?: number;
}

/** Runs a command to completion (bounded by timeoutMs). Never throws for a non-zero exit. */
export async function runCommand(command: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  const proc = spawnProcess(command, args, { ...opts, stopSignal: 'SIGKILL', stopTimeoutMs: 1000 });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void proc.stop();
  }, opts.timeoutMs ?? 30_000);
  const info = await proc.exited;
  clearTimeout(timer);
  await proc.stop();
  if (info.error !== undefined) throw info.error;
  return { code: info.code, signal: info.signal, stdout: proc.stdout(), stderr: proc.stderr(), timedOut };
}

/**
 * Runs a python3 script (`python3 -c script args...`; sys.argv[1:] are the args).
 * imaplib, poplib, smtplib and ssl are stdlib, so suites can drive real Python clients.
 */
export function runPython(script: string, args: readonly string[] = [], opts: RunOptions = {}): Promise<RunResult> {
  return runCommand('python3', ['-c', script, ...args], {
    ...opts,
    env: { PYTHONUNBUFFERED: '1', PYTHONDONTWRITEBYTECODE: '1', PYTHONIOENCODING: 'utf-8', ...opts.env },
  });
}
