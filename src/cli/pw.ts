import { Command } from 'commander';
import { createInterface } from 'node:readline/promises';
import { hashPassword, listSchemes } from '../auth/index.js';

async function readPassword(): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
  try {
    return await rl.question(process.stdin.isTTY ? 'Enter new password: ' : '');
  } finally {
    rl.close();
  }
}

export function pwCommand(): Command {
  return new Command('pw')
    .description('Hash a password for a passwd-file or SQL table, like `doveadm pw`.')
    .option('-s, --scheme <scheme>', 'password scheme', 'SHA512-CRYPT')
    .option('-p, --password <password>', 'the password (default: read from standard input)')
    .option('-u, --user <user>', 'user name, for schemes that use it')
    .option('-l, --list', 'list the supported schemes')
    .action(async (opts: { scheme: string; password?: string; user?: string; list?: boolean }) => {
      if (opts.list) {
        process.stdout.write(`${listSchemes().join(' ')}\n`);
        return;
      }
      const password = opts.password ?? (await readPassword());
      const scheme = opts.scheme.toUpperCase();
      process.stdout.write(`{${scheme}}${await hashPassword(scheme, password, opts.user ?? '')}\n`);
    });
}
