import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { hashPassword, listSchemes, splitScheme, verifyPassword } from '../auth/index.js';
import { readPassword } from './password-input.js';

/** `-r` as doveadm takes it: a non-negative integer that fits an unsigned int; 0 is the default. */
function parseRounds(value: string): number {
  const n = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!(n <= 0xffffffff)) throw new InvalidArgumentError('expected a whole number of rounds');
  return n;
}

function fail(message: string): never {
  process.stderr.write(`postern: ${message}\n`);
  throw new CommanderError(1, 'postern.pw', message);
}

/** doveadm prints the hash with " (verified)" when -t or -V checks it, and fails otherwise. */
async function verified(plain: string, hash: string, user: string): Promise<string> {
  const r = await verifyPassword(plain, hash, 'PLAIN', user);
  if ('ok' in r && r.ok) return `${hash} (verified)`;
  return fail(`reverse password verification check failed: ${'error' in r ? r.error : 'password mismatch'}`);
}

interface PwOptions {
  scheme: string;
  password?: string;
  user?: string;
  rounds?: number;
  testHash?: string;
  reverseVerify?: boolean;
  list?: boolean;
}

export function pwCommand(): Command {
  return new Command('pw')
    .description('Hash a password for a passwd-file or SQL table, like `doveadm pw`.')
    .option('-s, --scheme <scheme>', 'password scheme, with an optional .hex or .b64 suffix', 'SHA512-CRYPT')
    .option('-p, --password <password>', 'the password (default: read from standard input)')
    .option('-u, --user <user>', 'user name, for schemes that use it')
    .option('-r, --rounds <rounds>', 'rounds, cost or ops limit, for schemes that have one (default: the scheme\'s)', parseRounds)
    .option('-t, --test-hash <hash>', 'check the password against a {SCHEME}hash instead of making one')
    // doveadm's -V: `postern -V` is --version and the program parses it anywhere, so long only.
    .option('--reverse-verify', 'check the new hash against the password before printing it')
    .option('-l, --list', 'list the supported schemes')
    .action(async (opts: PwOptions) => {
      if (opts.list) {
        process.stdout.write(`${listSchemes().join(' ')}\n`);
        return;
      }
      const user = opts.user ?? '';
      if (opts.testHash !== undefined) {
        const { scheme, value } = splitScheme(opts.testHash);
        if (scheme === undefined) fail('missing {scheme} prefix from hash');
        const password = opts.password ?? (await readPassword('Enter password to verify: '));
        process.stdout.write(`${await verified(password, `{${scheme}}${value}`, user)}\n`);
        return;
      }
      const password = opts.password ?? (await readPassword('Enter new password: '));
      const scheme = opts.scheme.toUpperCase();
      const params = opts.rounds !== undefined ? { rounds: opts.rounds } : undefined;
      const hash = `{${scheme}}${await hashPassword(scheme, password, user, params)}`;
      process.stdout.write(`${opts.reverseVerify ? await verified(password, hash, user) : hash}\n`);
    });
}
