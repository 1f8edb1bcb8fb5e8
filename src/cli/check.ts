import { Command } from 'commander';
import { stringify } from 'yaml';
import { loadConfig, maskSecrets } from '../config/index.js';
import { fdLimitWarning } from '../cluster/index.js';
import { silentLogger } from '../log/index.js';
import { openFileLimit } from '../net/index.js';
import { checkServer } from '../server.js';

export function checkCommand(): Command {
  return new Command('check')
    .description('Validate a configuration (schema, certificates, CA file, passdb settings, proxy.source_ips) and print it with defaults filled in and secrets masked.')
    .requiredOption('-c, --config <file>', 'YAML configuration file')
    .option('-q, --quiet', 'print nothing when the configuration is valid')
    .action(async (opts: { config: string; quiet?: boolean }) => {
      const loaded = loadConfig(opts.config);
      // Certificates, the backend CA and the passdbs are built as `serve` builds them, then released.
      const warnings = await checkServer(loaded, silentLogger());
      const fdWarning = fdLimitWarning(loaded.config, openFileLimit());
      if (fdWarning !== undefined) warnings.push(fdWarning);
      for (const w of warnings) process.stderr.write(`# warning: ${w}\n`);
      if (!opts.quiet) process.stdout.write(`# ${loaded.file}: valid\n${stringify(maskSecrets(loaded.config))}`);
    });
}
