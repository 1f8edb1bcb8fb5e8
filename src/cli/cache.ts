import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';

/*
 * `postern cache flush`: asks a running `postern serve` to empty its auth cache. The
 * server does so on SIGHUP (and logs how many entries went), so the verb finds the
 * process and signals it. The admin API will offer the same over HTTP, with a count.
 */

function pidArg(value: string): number {
  const n = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!(n > 1)) throw new InvalidArgumentError('expected a process id');
  return n;
}

function fail(message: string): never {
  process.stderr.write(`postern: ${message}\n`);
  throw new CommanderError(1, 'postern.cache', message);
}

function readPidFile(path: string): number {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return fail(`cannot read the pid file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const pid = Number(text.trim());
  if (!/^\d+$/.test(text.trim()) || pid <= 1) fail(`${path} does not hold a process id`);
  return pid;
}

function flushCommand(): Command {
  return new Command('flush')
    .description('Empty the auth cache of a running server by sending it SIGHUP; the server logs how many entries it dropped.')
    .option('--pid <pid>', 'process id of `postern serve`', pidArg)
    .option('--pid-file <file>', 'the file `postern serve --pid-file` wrote')
    .action((opts: { pid?: number; pidFile?: string }) => {
      if ((opts.pid === undefined) === (opts.pidFile === undefined)) fail('give either --pid or --pid-file');
      const pid = opts.pid ?? readPidFile(opts.pidFile!);
      try {
        process.kill(pid, 'SIGHUP');
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        fail(code === 'ESRCH' ? `no process ${pid}` : `cannot signal process ${pid}: ${code ?? (err as Error).message}`);
      }
      process.stdout.write(`SIGHUP sent to ${pid}: the server flushes its auth cache and logs the count\n`);
    });
}

export function cacheCommand(): Command {
  return new Command('cache').description('Operate on the auth cache of a running server.').addCommand(flushCommand());
}
