import { rmSync, writeFileSync } from 'node:fs';
import { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import { createLogger } from '../log/index.js';
import { startServer } from '../server.js';

export function serveCommand(): Command {
  return new Command('serve')
    .description('Run the listeners of a configuration until SIGTERM or SIGINT. SIGHUP flushes the auth cache.')
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .option('--log-format <format>', 'json or text (overrides log.format)')
    .option('--pid-file <file>', 'write the process id here (for `postern cache flush --pid-file`); removed on exit')
    .addHelpText('after', '\nExample:\n  postern serve --config /etc/postern/postern.yaml\n')
    .action(async (opts: { config: string; logFormat?: string; pidFile?: string }) => {
      const loaded = loadConfig(opts.config);
      const format = opts.logFormat === 'text' || opts.logFormat === 'json' ? opts.logFormat : loaded.config.log.format;
      const log = createLogger({ format, level: loaded.config.log.level });
      const server = await startServer(loaded, log);
      if (opts.pidFile !== undefined) writeFileSync(opts.pidFile, `${process.pid}\n`);
      log.info({ event: 'started', config: loaded.file, pid: process.pid }, 'postern started');
      // Dovecot's auth process flushes its cache on SIGHUP and says how much went.
      const onHup = () => {
        const entries = server.flushAuthCache();
        log.info({ event: 'auth_cache_flushed', signal: 'SIGHUP', entries }, `SIGHUP received, ${entries} cache entries flushed`);
      };
      process.on('SIGHUP', onHup);
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ event: 'stopping', signal }, 'stopping');
          void server.close().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      process.removeListener('SIGHUP', onHup);
      if (opts.pidFile !== undefined) rmSync(opts.pidFile, { force: true });
      log.info({ event: 'stopped' }, 'postern stopped');
      log.flush?.();
    });
}
