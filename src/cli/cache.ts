import { readFileSync } from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { adminCall } from '../admin/index.js';
import { apiEndpoint, withApiOptions, type ApiOptions } from './admin.js';

/*
 * `postern cache flush`: asks a running `postern serve` to empty its auth cache. Through the
 * admin API (-c with an admin section, or --url), which answers how many entries went; or,
 * without one, by SIGHUP to the process (--pid, --pid-file), after which the server logs the count.
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
  return withApiOptions(new Command('flush'))
    .description('Empty the auth cache of a running server: through its admin API (-c or --url), which says how many entries went, or by sending it SIGHUP (--pid, --pid-file), after which the server logs the count.')
    .option('--pid <pid>', 'process id of `postern serve` (SIGHUP, for a server without an admin API)', pidArg)
    .option('--pid-file <file>', 'the file `postern serve --pid-file` wrote (SIGHUP)')
    .addHelpText('after', '\nExamples:\n  postern cache flush -c /etc/postern/postern.yaml\n  postern cache flush --pid-file /run/postern.pid\n')
    .action(async (opts: ApiOptions & { pid?: number; pidFile?: string }) => {
      const bySignal = opts.pid !== undefined || opts.pidFile !== undefined;
      const byApi = opts.config !== undefined || opts.url !== undefined;
      if (bySignal && byApi) fail('give -c/--url (admin API) or --pid/--pid-file (SIGHUP), not both');
      if (byApi) {
        const { flushed } = (await adminCall(apiEndpoint(opts), 'POST', '/cache/flush')) as { flushed: number };
        process.stdout.write(`${flushed} cache entr${flushed === 1 ? 'y' : 'ies'} flushed\n`);
        return;
      }
      if ((opts.pid === undefined) === (opts.pidFile === undefined)) fail('give -c (admin API), --pid or --pid-file');
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
