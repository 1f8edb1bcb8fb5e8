import cluster from 'node:cluster';
import { rmSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { fdLimitWarning, Primary, serveProcess, workerCount } from '../cluster/index.js';
import { loadConfig } from '../config/index.js';
import { createLogger } from '../log/index.js';
import { openFileLimit } from '../net/index.js';

export function serveCommand(): Command {
  return new Command('serve')
    .summary('Run the listeners of a configuration (one worker per core; SIGHUP reloads, SIGTERM drains).')
    .description(
      'Run the listeners of a configuration: one worker per CPU core (process.workers), a dead worker replaced. ' +
        'SIGHUP reloads the configuration file for new connections (open sessions go on); SIGTERM or SIGINT stops ' +
        'accepting, lets sessions run process.shutdown_timeout, then ends them with the protocol goodbye.',
    )
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .option('--log-format <format>', 'json or text (overrides log.format)')
    .option('--pid-file <file>', 'write the process id here (for `postern cache flush --pid-file`, `kill -HUP`); removed on exit')
    .addHelpText('after', '\nExample:\n  postern serve --config /etc/postern/postern.yaml\n  kill -HUP $(cat /run/postern.pid)   # reload\n')
    .action(async (opts: { config: string; logFormat?: string; pidFile?: string }) => {
      const loaded = loadConfig(opts.config);
      const format = opts.logFormat === 'text' || opts.logFormat === 'json' ? opts.logFormat : loaded.config.log.format;
      const root = createLogger({ format, level: loaded.config.log.level });
      const writePid = () => {
        if (opts.pidFile !== undefined) writeFileSync(opts.pidFile, `${process.pid}\n`);
      };
      // Once a node, from the primary or the single process: every worker has the same limit.
      const fdWarning = cluster.isPrimary ? fdLimitWarning(loaded.config, openFileLimit()) : undefined;
      if (fdWarning !== undefined) root.warn({ event: 'config_warning' }, fdWarning);
      if (cluster.isPrimary && workerCount(loaded.config.process) > 1) {
        const primary = new Primary({ file: opts.config, loaded, log: root });
        await primary.start();
        writePid();
        root.info({ event: 'started', config: loaded.file, pid: process.pid, workers: primary.workers.length }, 'postern started');
        await primary.stopped;
        // A worker that crashed or had to be killed on the way out makes the stop a failure (systemd shows it).
        if (primary.failedAtStop > 0) {
          process.exitCode = 1;
          const n = primary.failedAtStop;
          root.error({ event: 'stop_failed', workers: n }, `${n} ${n === 1 ? 'worker' : 'workers'} did not stop cleanly`);
        }
      } else if (cluster.isWorker) {
        const log = root.child({ worker: Number(process.env.POSTERN_WORKER), pid: process.pid });
        // The IPC channel would keep a worker that failed to start, or has stopped, alive.
        await serveProcess({ loaded, log }).finally(() => {
          log.info({ event: 'stopped' }, 'worker stopped');
          log.flush?.();
          if (process.connected) process.disconnect();
        });
        return;
      } else {
        await serveProcess({
          loaded,
          log: root,
          onStarted: () => {
            writePid();
            root.info({ event: 'started', config: loaded.file, pid: process.pid }, 'postern started');
          },
        });
      }
      if (opts.pidFile !== undefined) rmSync(opts.pidFile, { force: true });
      root.info({ event: 'stopped' }, 'postern stopped');
      root.flush?.();
    });
}
