import cluster, { type Worker } from 'node:cluster';
import { configPath, loadConfig, type LoadedConfig } from '../config/index.js';
import { PosternError } from '../core/index.js';
import type { Logger } from '../log/index.js';
import { freeSocketPath, ticketKeys } from '../net/index.js';
import { checkServer } from '../server/index.js';
import { reloadAdminServer, startAdminServer, type AdminServer } from '../admin/index.js';
import { workerCount } from './config.js';
import { clusterAdminTarget } from './admin-target.js';
import { CountKeeper } from './counter.js';
import { AcceptGather } from './accept-gather.js';
import { isToPrimary, type ToPrimary, type ToWorker } from './messages.js';

export interface PrimaryOptions {
  file: string;
  loaded: LoadedConfig;
  log: Logger;
  /** Called once every worker listens. */
  onStarted?: (primary: Primary) => void;
}

/** A worker that died younger than this counts as a crash loop: its replacement waits. */
const CRASH_LOOP_MS = 10_000;
const MAX_RESTART_DELAY_MS = 30_000;
const ANSWER_TIMEOUT_MS = 10_000;

interface Slot {
  n: number;
  worker: Worker;
  started: number;
  /** Replacements in a row of a worker that died young. */
  quickDeaths: number;
}

/**
 * The supervisor of `postern serve` with several workers: forks them (the kernel spreads new
 * connections over the shared listening sockets), replaces one that dies, passes SIGHUP on
 * as a reload once the file validates, and on SIGTERM has every worker drain and waits.
 */
export class Primary {
  readonly #opts: PrimaryOptions;
  readonly #log: Logger;
  #loaded: LoadedConfig;
  readonly #slots = new Map<number, Slot>();
  /** Workers beyond a lowered process.workers: draining, answering the admin API, not replaced. */
  readonly #retiring = new Set<Slot>();
  #stopping = false;
  #failedAtStop = 0;
  readonly #counts = new CountKeeper();
  /** process.accept: which workers take new connections. */
  readonly #gather: AcceptGather;
  #admin: AdminServer | undefined;
  #asked = 0;
  readonly #pending = new Map<string, (m: Extract<ToPrimary, { t: 'answer' }>) => void>();
  #resolveStopped!: () => void;
  readonly stopped = new Promise<void>((r) => (this.#resolveStopped = r));

  constructor(opts: PrimaryOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ role: 'primary' });
    this.#loaded = opts.loaded;
    this.#gather = new AcceptGather(this.#log, () => [...this.#slots.values()].sort((a, b) => a.n - b.n).map((s) => s.worker), this.#loaded.config.process.accept);
  }

  get workers(): Array<{ n: number; pid: number }> {
    return this.#all().map((s) => ({ n: s.n, pid: s.worker.process.pid ?? 0 }));
  }

  #all(): Slot[] {
    return [...this.#slots.values(), ...this.#retiring];
  }

  async start(): Promise<void> {
    // Workers accept on the shared sockets themselves: no hand-off through this process per connection.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    await this.#freeSocketPaths(this.#loaded, undefined);
    // Made once here, inherited by every worker (replacements too): TLS sessions resume across them.
    ticketKeys(undefined);
    const count = workerCount(this.#loaded.config.process);
    const ready = await Promise.all(Array.from({ length: count }, (_, n) => this.#fork(n)));
    cluster.on('exit', (worker, code, signal) => this.#onExit(worker, code, signal));
    if (ready.includes(false)) {
      // The worker said why on stderr (a port in use, a certificate): the same would happen again.
      await this.stop('a worker failed to start');
      throw new PosternError('POSTERN_WORKER_START', `${ready.filter((r) => !r).length} of ${count} workers failed to start`);
    }
    process.on('SIGHUP', () => void this.reload());
    process.once('SIGTERM', () => void this.stop('SIGTERM'));
    process.once('SIGINT', () => void this.stop('SIGINT'));
    this.#log.info({ event: 'workers_started', workers: count }, `${count} workers serving`);
    const admin = this.#loaded.config.admin;
    if (admin) {
      try {
        this.#admin = await startAdminServer(admin, (p) => configPath(this.#loaded, p), clusterAdminTarget(this), this.#log);
      } catch (err) {
        await this.stop('the admin API failed to start');
        throw err;
      }
    }
    this.#opts.onStarted?.(this);
  }

  /** Forks worker `n`; true when it listens, false when it died trying. */
  #fork(n: number): Promise<boolean> {
    const worker = cluster.fork({ POSTERN_WORKER: String(n), POSTERN_WORKERS: String(workerCount(this.#loaded.config.process)) });
    this.#counts.serve(worker);
    // A send to a worker that is dying fails with EPIPE: its exit is handled below.
    worker.on('error', (err) => this.#log.debug({ event: 'worker_ipc_error', worker: n, err: err.message }, 'IPC to a worker failed'));
    const prev = this.#slots.get(n);
    this.#slots.set(n, { n, worker, started: Date.now(), quickDeaths: prev?.quickDeaths ?? 0 });
    worker.on('message', (m: unknown) => {
      if (!isToPrimary(m)) return;
      if (m.t === 'load') this.#gather.report(worker, m.elu, m.cpu, m.full === true);
      else if (m.t === 'answer') this.#pending.get(`${worker.id}:${m.id}`)?.(m);
    });
    return new Promise((resolve) => {
      const onReady = (m: unknown) => {
        if (!isToPrimary(m) || m.t !== 'ready') return;
        this.#log.info({ event: 'worker_started', worker: n, pid: worker.process.pid }, `worker ${n} (pid ${worker.process.pid}) listening`);
        worker.off('message', onReady);
        this.#gather.ready(worker);
        resolve(true);
      };
      worker.on('message', onReady);
      worker.once('exit', () => resolve(false));
    });
  }

  #onExit(worker: Worker, code: number | null, signal: string | null): void {
    const slot = [...this.#slots.values()].find((s) => s.worker === worker);
    for (const [key, answer] of this.#pending) if (key.startsWith(`${worker.id}:`)) answer({ t: 'answer', id: 0, ok: false, error: 'worker exited' });
    this.#gather.forget(worker);
    const retired = [...this.#retiring].find((s) => s.worker === worker);
    if (retired) {
      this.#retiring.delete(retired);
      this.#ended(retired.n, worker, code, signal, 'worker_retired');
      if (this.#stopping && this.#all().length === 0) this.#resolveStopped();
      return;
    }
    if (!slot) return;
    if (this.#stopping) {
      this.#slots.delete(slot.n);
      this.#ended(slot.n, worker, code, signal, 'worker_stopped');
      if (this.#all().length === 0) this.#resolveStopped();
      return;
    }
    const age = Date.now() - slot.started;
    slot.quickDeaths = age < CRASH_LOOP_MS ? slot.quickDeaths + 1 : 0;
    const delay = slot.quickDeaths <= 1 ? 0 : Math.min(MAX_RESTART_DELAY_MS, 1000 * 2 ** (slot.quickDeaths - 2));
    this.#log.error({ event: 'worker_died', worker: slot.n, pid: worker.process.pid, code, signal, restart_in_ms: delay }, `worker ${slot.n} (pid ${worker.process.pid}) died (${signal ?? `exit code ${code}`}); ${delay ? `replacing it in ${delay} ms` : 'replacing it'}`);
    setTimeout(() => {
      // A reload may have lowered process.workers meanwhile: a slot no longer there is not filled.
      if (!this.#stopping && this.#slots.get(slot.n) === slot) void this.#fork(slot.n);
    }, delay).unref();
  }

  /** Asks every live worker; each answer or error, in worker order. */
  async ask(what: string, arg?: unknown): Promise<Array<{ worker: number; ok: boolean; value?: unknown; error?: string }>> {
    const slots = this.#all().filter((s) => s.worker.isConnected());
    return Promise.all(
      slots.map(
        (s) =>
          new Promise<{ worker: number; ok: boolean; value?: unknown; error?: string }>((resolve) => {
            const id = ++this.#asked;
            const key = `${s.worker.id}:${id}`;
            const timer = setTimeout(() => done({ t: 'answer', id, ok: false, error: 'no answer' }), ANSWER_TIMEOUT_MS);
            const done = (m: Extract<ToPrimary, { t: 'answer' }>) => {
              clearTimeout(timer);
              this.#pending.delete(key);
              resolve({ worker: s.n, ok: m.ok, ...(m.value !== undefined ? { value: m.value } : {}), ...(m.error !== undefined ? { error: m.error } : {}) });
            };
            this.#pending.set(key, done);
            s.worker.send({ t: 'ask', id, what, ...(arg !== undefined ? { arg } : {}) } satisfies ToWorker);
          }),
      ),
    );
  }

  /** Validates the file here first, so a bad one reaches no worker; then every worker swaps it in. */
  async reload(): Promise<{ ok: true } | { ok: false; error: string }> {
    if (this.#stopping) return { ok: false, error: 'postern is stopping' };
    let next: LoadedConfig;
    try {
      next = loadConfig(this.#opts.file);
      await checkServer(next, this.#log);
      await this.#freeSocketPaths(next, this.#loaded);
    } catch (err) {
      const error = (err as Error).message;
      this.#log.error({ event: 'reload_failed', config: this.#loaded.file, err: error }, `reload refused, the running configuration stays: ${error}`);
      return { ok: false, error };
    }
    const was = workerCount(this.#loaded.config.process);
    const adminWas = this.#loaded.config.admin;
    this.#loaded = next;
    // The primary serves the admin API; a request under way on it (POST /reload) is answered.
    this.#admin = await reloadAdminServer(this.#admin, adminWas, next.config.admin, (p) => configPath(next, p), clusterAdminTarget(this), this.#log);
    // Workers about to retire reload too: they serve their sessions to the end with the new configuration.
    const answers = await this.ask('reload');
    const failed = answers.filter((a) => !a.ok || (a.value as { ok?: boolean } | undefined)?.ok === false);
    if (failed.length > 0) {
      const error = failed.map((f) => `worker ${f.worker}: ${f.error ?? (f.value as { error?: string }).error}`).join('; ');
      this.#log.error({ event: 'reload_failed', config: this.#loaded.file, err: error }, `reload failed in ${failed.length} of ${answers.length} workers`);
      return { ok: false, error };
    }
    this.#gather.setMode(next.config.process.accept);
    this.#log.info({ event: 'reloaded', config: this.#loaded.file, workers: answers.length }, `configuration reloaded by ${answers.length} workers`);
    return this.#resize(was, workerCount(next.config.process));
  }

  /**
   * process.workers changed by a reload: new workers start; those beyond the new count stop
   * accepting and drain as on SIGTERM (sessions get process.shutdown_timeout, then the
   * protocol's goodbye), and are not replaced.
   */
  async #resize(was: number, now: number): Promise<{ ok: true } | { ok: false; error: string }> {
    if (now === was) return { ok: true };
    if (now < was) {
      const deadlineMs = this.#loaded.config.process.shutdown_timeout;
      for (const slot of [...this.#slots.values()].filter((s) => s.n >= now)) {
        this.#slots.delete(slot.n);
        // One that died and waits for its replacement has nothing to drain: it is simply not replaced.
        if (slot.worker.isDead()) continue;
        this.#retiring.add(slot);
        if (slot.worker.isConnected()) slot.worker.send({ t: 'shutdown', deadlineMs } satisfies ToWorker);
      }
      this.#log.info({ event: 'workers_resized', workers: now, was }, `process.workers ${was} → ${now}: ${was - now} workers drain and stop`);
      return { ok: true };
    }
    const started = await Promise.all(Array.from({ length: now - was }, (_, i) => this.#fork(was + i)));
    const failed = started.filter((ok) => !ok).length;
    this.#log[failed ? 'error' : 'info']({ event: 'workers_resized', workers: now, was, failed }, `process.workers ${was} → ${now}${failed ? `: ${failed} new workers failed to start and are retried` : ''}`);
    return failed ? { ok: false, error: `${failed} of ${now - was} new workers failed to start` } : { ok: true };
  }

  /**
   * A worker that ended when told to (a stop, a lowered process.workers): `info` when it exited cleanly;
   * `error` when a signal (a crash, or the kill after the deadline) or an exit code ended it, counted in
   * `failedAtStop` during a stop.
   */
  #ended(n: number, worker: Worker, code: number | null, signal: string | null, event: string): void {
    const pid = worker.process.pid;
    if (code === 0 && signal === null) {
      this.#log.info({ event, worker: n, pid, code, signal }, `worker ${n} (pid ${pid}) has drained and stopped`);
      return;
    }
    if (this.#stopping) this.#failedAtStop++;
    this.#log.error({ event, worker: n, pid, code, signal }, `worker ${n} (pid ${pid}) ended by ${signal ?? `exit code ${code}`} while draining`);
  }

  /** Workers that did not exit cleanly during the stop (see #ended): the primary's exit code says so. */
  get failedAtStop(): number {
    return this.#failedAtStop;
  }

  /** Every worker drains (listeners closed, sessions given process.shutdown_timeout); then we go. */
  async stop(why: string): Promise<void> {
    if (this.#stopping) return this.stopped;
    this.#stopping = true;
    this.#gather.stop();
    const deadlineMs = this.#loaded.config.process.shutdown_timeout;
    this.#log.info({ event: 'stopping', signal: why, workers: this.#all().length, deadline_ms: deadlineMs }, 'stopping the workers');
    await this.#admin?.close();
    if (this.#all().length === 0) this.#resolveStopped();
    for (const s of this.#slots.values()) if (s.worker.isConnected()) s.worker.send({ t: 'shutdown', deadlineMs } satisfies ToWorker);
    // A worker that does not finish in time (goodbyes have 2 s more) is killed; retiring ones were told already.
    const killer = setTimeout(() => {
      for (const s of this.#all()) {
        this.#log.warn({ event: 'worker_killed', worker: s.n, pid: s.worker.process.pid }, `worker ${s.n} did not stop in time`);
        s.worker.process.kill('SIGKILL');
      }
    }, deadlineMs + 5000).unref();
    await this.stopped;
    clearTimeout(killer);
  }

  /** Unix socket files left by a crash are removed before workers bind them through us. */
  async #freeSocketPaths(loaded: LoadedConfig, running: LoadedConfig | undefined): Promise<void> {
    const ours = new Set(running ? running.config.listen.flatMap((l) => (l.path !== undefined ? [configPath(running, l.path)] : [])) : []);
    for (const l of loaded.config.listen) {
      if (l.path === undefined) continue;
      const path = configPath(loaded, l.path);
      if (!ours.has(path)) await freeSocketPath(path, l.name ?? `${l.protocol}:${path}`);
    }
  }
}
