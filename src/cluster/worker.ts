import cluster from 'node:cluster';
import { readFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import type { LoadedConfig } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { descriptorWatch } from '../net/index.js';
import { startServer, type RunningServer } from '../server/index.js';
import { workerAdmin } from '../admin/index.js';
import type { SessionFilter } from '../login/index.js';
import { WorkerCounter } from './counter.js';
import { isToWorker, type ToPrimary } from './messages.js';
import { LOAD_REPORT_MS } from './accept-gather.js';

/**
 * CPU time of this process's main thread, in ns: the scheduler's count (Linux), else the whole
 * process's (the relay thread's included).
 */
function mainThreadCpuNs(): bigint {
  try {
    return BigInt(readFileSync(`/proc/self/task/${process.pid}/schedstat`, 'latin1').split(' ')[0]!);
  } catch {
    const u = process.cpuUsage();
    return BigInt(u.user + u.system) * 1000n;
  }
}

/** A question a worker answers for the primary (`reload`, and what the admin API asks). */
export type WorkerQuestion = (arg: unknown, server: RunningServer) => Promise<unknown> | unknown;

export interface ServeOptions {
  loaded: LoadedConfig;
  log: Logger;
  /** Called once the listeners are open (pid file, `started` log line). */
  onStarted?: (server: RunningServer) => void;
}

/**
 * One serving process: a worker under the primary, or postern itself with `workers: 1`.
 * SIGTERM/SIGINT (and the primary's order, or the primary going away) drain it:
 * listeners close, sessions get process.shutdown_timeout, then their goodbye.
 * SIGHUP alone (single process) reloads the config file.
 */
export async function serveProcess(opts: ServeOptions): Promise<void> {
  const { log } = opts;
  const worker = cluster.isWorker;
  // A worker counts connections with the primary and leaves the admin API to it.
  const server = await startServer(opts.loaded, log, worker ? { clustered: true, adminApi: false, counter: new WorkerCounter(Number(process.env.POSTERN_WORKERS) || 1) } : {});
  opts.onStarted?.(server);
  // Dovecot reloads its configuration on SIGHUP; the auth cache goes with the old one.
  const onHup = () => server.reloadFile('SIGHUP');
  const admin = workerAdmin(server);
  const questions: Record<string, WorkerQuestion> = {
    reload: onHup,
    sessions: (f) => admin.sessions(f as SessionFilter),
    kick: (f) => admin.kick(f as SessionFilter),
    flushCache: () => admin.flushCache(),
    backends: () => admin.backends(),
    metricsJson: () => admin.metricsJson(),
  };

  await new Promise<void>((resolve) => {
    let stopping = false;
    let loadTimer: NodeJS.Timeout | undefined;
    let report: ((full: boolean) => void) | undefined;
    const stop = (why: string, deadlineMs = server.config.process.shutdown_timeout) => {
      if (stopping) return;
      stopping = true;
      clearInterval(loadTimer);
      log.info({ event: 'stopping', signal: why, deadline_ms: deadlineMs }, 'stopping');
      void server.shutdown(deadlineMs).then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    if (worker) {
      const send = (m: ToPrimary) => {
        if (process.connected) process.send?.(m);
      };
      // The primary passes SIGHUP on as a reload; one sent to the whole group must not kill us.
      process.on('SIGHUP', () => undefined);
      // A primary that died (SIGKILL) cannot stop us: drain on our own.
      process.once('disconnect', () => stop('primary gone'));
      process.on('message', (m: unknown) => {
        if (!isToWorker(m)) return;
        if (m.t === 'shutdown') return stop('primary', m.deadlineMs);
        if (m.t === 'hold') return server.holdAccepts(m.held);
        if (m.t !== 'ask') return;
        const answer = questions[m.what];
        if (!answer) return send({ t: 'answer', id: m.id, ok: false, error: `unknown question ${m.what}` });
        Promise.resolve()
          .then(() => answer(m.arg, server))
          .then(
            (value) => send({ t: 'answer', id: m.id, ok: true, value }),
            (err: unknown) => send({ t: 'answer', id: m.id, ok: false, error: (err as Error).message }),
          );
      });
      // How busy this worker is, for the primary's process.accept: gather.
      let last = { elu: performance.eventLoopUtilization(), cpuNs: mainThreadCpuNs(), at: process.hrtime.bigint() };
      report = (full) => {
        const now = { elu: performance.eventLoopUtilization(), cpuNs: mainThreadCpuNs(), at: process.hrtime.bigint() };
        const cpu = Number(now.cpuNs - last.cpuNs) / Math.max(1, Number(now.at - last.at));
        send({ t: 'load', elu: performance.eventLoopUtilization(now.elu, last.elu).utilization, cpu, full });
        last = now;
      };
      send({ t: 'ready', listeners: server.listeners.map((l) => ({ label: l.label, address: l.address.address, port: l.address.port })) });
    } else {
      process.on('SIGHUP', () => void onHup());
    }
    // Four times a second: whether this process is out of descriptors, said once each way, and in a worker the load report.
    const full = descriptorWatch();
    let wasFull = false;
    loadTimer = setInterval(() => {
      const isFull = full();
      report?.(isFull);
      if (isFull === wasFull) return;
      wasFull = isFull;
      if (isFull) log.warn({ event: 'descriptors_exhausted', sessions: server.sessions.size }, `out of file descriptors: new connections ${worker ? 'go to the other workers' : 'wait'} until some are free`);
      else log.info({ event: 'descriptors_back' }, 'file descriptors free again: taking new connections');
    }, LOAD_REPORT_MS).unref();
  });
}
