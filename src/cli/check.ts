import { Command } from 'commander';
import { stringify } from 'yaml';
import { configPath, loadConfig, maskSecrets } from '../config/index.js';
import { createServerTls } from '../net/index.js';

export function checkCommand(): Command {
  return new Command('check')
    .description('Validate a configuration (schema, certificate files) and print it with defaults filled in and secrets masked.')
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .option('-q, --quiet', 'print nothing when the configuration is valid')
    .action((opts: { config: string; quiet?: boolean }) => {
      const loaded = loadConfig(opts.config);
      if (loaded.config.tls) createServerTls(loaded.config.tls, (p) => configPath(loaded, p));
      if (!opts.quiet) process.stdout.write(`# ${loaded.file}: valid\n${stringify(maskSecrets(loaded.config))}`);
    });
}
