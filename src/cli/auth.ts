import { isIP } from 'node:net';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { createAuthenticator, createPassdbLookup, maskFields, splitScheme, type AuthRequest, type Fields } from '../auth/index.js';
import { loadConfig } from '../config/index.js';
import { PosternError, Secret } from '../core/index.js';
import { createLogger, silentLogger } from '../log/index.js';
import { readPassword } from './password-input.js';

/*
 * `postern auth test` and `postern auth lookup`: the configured passdb chain run from
 * the command line, printed as `doveadm auth test` / `doveadm auth lookup` print it.
 * Exit 0 when the login succeeds or the user is found, 1 when not, 2 on a temporary
 * failure or a configuration that cannot be used.
 */

interface CommonOptions {
  config: string;
  service: string;
  rip?: string;
  lip?: string;
  secured?: boolean;
  debug?: boolean;
}

const EXIT_FAIL = 1;
const EXIT_TEMPFAIL = 2;

function ipArg(value: string): string {
  if (isIP(value) === 0) throw new InvalidArgumentError('expected an IP address');
  return value;
}

function withCommonOptions(cmd: Command): Command {
  return cmd
    .requiredOption('-c, --config <file>', 'YAML configuration file whose auth.passdb chain is used')
    .option('--service <name>', 'service name for %s (doveadm uses "doveadm"; give imap or pop3 to test as those)', 'doveadm')
    .option('--rip <ip>', 'client address for %r, allow_nets and the like', ipArg)
    .option('--lip <ip>', 'local address for %l', ipArg)
    .option('--secured', 'treat the connection as secured (TLS) for %c')
    .option('--debug', 'log the passdb decisions to stderr (secrets masked)');
}

const out = (line: string) => process.stdout.write(`${line}\n`);

function exit(code: number, message?: string): never {
  if (message !== undefined) process.stderr.write(`postern: ${message}\n`);
  throw new CommanderError(code, 'postern.auth', message ?? `exit ${code}`);
}

function deps(opts: CommonOptions, baseDir: string) {
  const log = opts.debug ? createLogger({ format: 'text', level: 'debug' }, process.stderr) : silentLogger();
  return { log, baseDir };
}

/** Builds the chain; a passdb that cannot be set up is a configuration error (exit 2). */
function build<T>(make: () => T): T {
  try {
    return make();
  } catch (err) {
    if (err instanceof PosternError) exit(EXIT_TEMPFAIL, `${err.message} [${err.code}]`);
    throw err;
  }
}

function request(user: string, opts: CommonOptions, password?: string): AuthRequest {
  return {
    service: opts.service,
    mech: 'PLAIN',
    user,
    ...(password !== undefined ? { password: new Secret(password) } : {}),
    remoteIp: opts.rip ?? '',
    remotePort: 0,
    localIp: opts.lip ?? '',
    localPort: 0,
    secured: opts.secured === true,
    session: `postern-cli-${process.pid}`,
  };
}

/** `{SHA512-CRYPT}***`: which scheme, never the hash. */
function maskedPassword(stored: string): string {
  const { scheme } = splitScheme(stored);
  return `${scheme !== undefined ? `{${scheme}}` : ''}***`;
}

function testCommand(): Command {
  return withCommonOptions(
    new Command('test')
      .description('Check a login against the passdb chain, like `doveadm auth test`. The password is read from standard input when not given (without echo on a terminal).')
      .argument('<user>', 'login name')
      .argument('[password]', 'password (default: read from standard input)'),
  ).action(async (user: string, password: string | undefined, opts: CommonOptions) => {
    const loaded = loadConfig(opts.config);
    const auth = build(() => createAuthenticator(loaded.config.auth.passdb, deps(opts, loaded.baseDir)));
    try {
      const pw = password ?? (await readPassword('Password: '));
      const r = await auth.authenticate(request(user, opts, pw));
      const extra: Fields = {};
      if (r.kind === 'ok') {
        out(`passdb: ${user} auth succeeded`);
        Object.assign(extra, { user: r.user }, maskFields(r.fields), r.user !== user ? { original_user: user } : {});
      } else {
        out(`passdb: ${user} auth failed`);
        extra.user = user;
        if (r.kind === 'tempFail') extra.code = 'temp_fail';
        else {
          if (r.reason === 'userDisabled') extra.code = 'user_disabled';
          if (r.message !== undefined) extra.reason = r.message;
        }
      }
      out('extra fields:');
      for (const [k, v] of Object.entries(extra)) out(`  ${k}=${v}`);
      if (r.kind === 'ok' && !r.passwordVerified) {
        process.stderr.write('postern: note: no passdb checked this password (nopassword, or a NULL password with proxy): the backend is left to check it\n');
      }
      if (r.kind === 'tempFail') exit(EXIT_TEMPFAIL, `temporary failure: ${r.reason}`);
      if (r.kind === 'fail') exit(EXIT_FAIL);
    } finally {
      await auth.close();
    }
  });
}

interface LookupOptions extends CommonOptions {
  field?: string;
}

function lookupCommand(): Command {
  return withCommonOptions(
    new Command('lookup')
      .description('Look users up in the passdb chain without a password, like `doveadm auth lookup`: the passdb that knows the user, its fields, and the scheme of its password (never the hash).')
      .argument('<user...>', 'login names')
      .option('-f, --field <name>', 'print only the value of this field'),
  ).action(async (users: string[], opts: LookupOptions) => {
    const loaded = loadConfig(opts.config);
    const lookup = build(() => createPassdbLookup(loaded.config.auth.passdb, deps(opts, loaded.baseDir)));
    let code = 0;
    try {
      for (const [i, user] of users.entries()) {
        if (i > 0 && opts.field === undefined) out('');
        const r = await lookup.lookup(request(user, opts));
        switch (r.kind) {
          case 'tempFail':
            process.stderr.write(`postern: passdb lookup failed for ${user}: ${r.reason}\n`);
            code = EXIT_TEMPFAIL;
            continue;
          case 'userUnknown':
          case 'userDisabled': {
            const why = r.kind === 'userUnknown' ? "doesn't exist" : `is disabled (${r.passdb}${r.message ? `: ${r.message}` : ''})`;
            (opts.field === undefined ? process.stdout : process.stderr).write(`passdb lookup: user ${user} ${why}\n`);
            code = Math.max(code, EXIT_FAIL);
            continue;
          }
          case 'found':
            break;
        }
        const shown: Array<[string, string]> = [];
        if (r.user !== user) shown.push(['user', r.user]);
        if (r.password !== null) shown.push(['password', maskedPassword(r.password)]);
        shown.push(...Object.entries(maskFields(r.fields)));
        if (opts.field !== undefined) {
          for (const [k, v] of shown) if (k === opts.field) out(v);
          continue;
        }
        out(`passdb: ${user}`);
        for (const [k, v] of shown) out(`  ${k.padEnd(10)}: ${v}`.trimEnd());
      }
    } finally {
      await lookup.close();
    }
    if (code !== 0) exit(code);
  });
}

export function authCommand(): Command {
  return new Command('auth')
    .description('Test logins and look users up in the configured passdbs, like `doveadm auth test` and `doveadm auth lookup`.')
    .addCommand(testCommand())
    .addCommand(lookupCommand());
}
