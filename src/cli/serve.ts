import { Command } from 'commander';
import { loadConfig } from '../config/index.js';
import { createLogger } from '../log/index.js';
import { startServer } from '../server.js';

export function serveCommand(): Command {
  return new Command('serve')
    .description('Run the listeners of a configuration until SIGTERM or SIGINT.')
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .option('--log-format <format>', 'json or text (overrides log.format)')
    .addHelpText('after', '\nExample:\n  postern serve --config /etc/postern/postern.yaml\n')
    .action(async (opts: { config: string; logFormat?: string }) => {
      const loaded = loadConfig(opts.config);
      const format = opts.logFormat === 'text' || opts.logFormat === 'json' ? opts.logFormat : loaded.config.log.format;
      const log = createLogger({ format, level: loaded.config.log.level });
      const server = await startServer(loaded, log);
      log.info({ event: 'started', config: loaded.file, pid: process.pid }, 'postern started');
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          log.info({ event: 'stopping', signal }, 'stopping');
          void server.close().then(resolve);
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
      });
      log.info({ event: 'stopped' }, 'postern stopped');
      log.flush?.();
    });
}
