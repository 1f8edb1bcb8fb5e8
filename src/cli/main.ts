import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/index.js';
import { PosternError } from '../core/index.js';
import { registerPassdbDrivers } from '../drivers.js';
import { backendsCommand, kickCommand, reloadCommand, whoCommand } from './admin.js';
import { authCommand } from './auth.js';
import { cacheCommand } from './cache.js';
import { checkCommand } from './check.js';
import { pwCommand } from './pw.js';
import { serveCommand } from './serve.js';

export function buildProgram(): Command {
  const program = new Command('postern')
    .description('IMAP, POP3 and LMTP login proxy and auth service, with Dovecot-compatible password databases and proxy fields.')
    .version(process.env['npm_package_version'] ?? '0.1.0', '-V, --version')
    .showHelpAfterError()
    .exitOverride();
  program.addCommand(serveCommand());
  program.addCommand(checkCommand());
  program.addCommand(pwCommand());
  program.addCommand(authCommand());
  program.addCommand(cacheCommand());
  program.addCommand(whoCommand());
  program.addCommand(kickCommand());
  program.addCommand(backendsCommand());
  program.addCommand(reloadCommand());
  return program;
}

/** Runs the CLI; returns the exit code instead of exiting, so tests can call it. */
export async function main(argv: string[]): Promise<number> {
  registerPassdbDrivers();
  try {
    await buildProgram().parseAsync(argv);
    // A command that ended its work but failed at it (serve: a worker that crashed on the way out) says so here.
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode;
    if (err instanceof ConfigError) {
      process.stderr.write(`postern: ${err.message}\n`);
      return 2;
    }
    if (err instanceof PosternError) {
      process.stderr.write(`postern: ${err.message} [${err.code}]\n`);
      return 1;
    }
    process.stderr.write(`postern: unexpected error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    return 1;
  }
}
