import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { adminCall, adminListen, adminToken, describeEndpoint, parseAdminUrl, type AdminEndpoint, type BackendHealth } from '../admin/index.js';
import { configPath, loadConfig } from '../config/index.js';
import { Secret } from '../core/index.js';
import type { SessionInfo } from '../login/index.js';

/*
 * The verbs that talk to a running server's admin API: `postern who`, `postern kick`,
 * `postern reload` (and `postern cache flush`, in cache.ts). They find the API in the
 * configuration's admin section (-c), or from --url and --token-file.
 */

export interface ApiOptions {
  config?: string;
  url?: string;
  tokenFile?: string;
}

/** The token from POSTERN_ADMIN_TOKEN when neither --token-file nor a config gives one. */
const TOKEN_ENV = 'POSTERN_ADMIN_TOKEN';

export function usage(message: string): never {
  process.stderr.write(`postern: ${message}\n`);
  throw new CommanderError(1, 'postern.admin', message);
}

export function withApiOptions(cmd: Command): Command {
  return cmd
    .option('-c, --config <file>', 'configuration of the running server: its admin section gives the address and token')
    .option('--url <url>', 'the admin API, http://127.0.0.1:8080 or unix:/run/postern/admin.sock (instead of -c)')
    .option('--token-file <file>', `file holding the token (default: the config's, or $${TOKEN_ENV})`);
}

function readTokenFile(path: string): Secret {
  try {
    return new Secret(readFileSync(path, 'utf8').trim());
  } catch (err) {
    return usage(`cannot read the token file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Where the API is and the token to show it, from the flags. */
export function apiEndpoint(opts: ApiOptions): AdminEndpoint {
  if (opts.url !== undefined) {
    const where = parseAdminUrl(opts.url);
    if (where === undefined) usage(`--url ${opts.url}: expected http://HOST:PORT or unix:/path/to/socket`);
    const env = process.env[TOKEN_ENV];
    if (opts.tokenFile !== undefined) return { where, token: readTokenFile(opts.tokenFile) };
    if (env !== undefined && env !== '') return { where, token: new Secret(env.trim()) };
    if (opts.config === undefined) usage(`--url needs --token-file, $${TOKEN_ENV} or -c`);
  }
  if (opts.config === undefined) return usage('give -c/--config (the server\'s configuration) or --url');
  const loaded = loadConfig(opts.config);
  const admin = loaded.config.admin;
  if (admin === undefined) return usage(`${loaded.file} has no admin section: the server offers no admin API`);
  const resolve = (p: string) => configPath(loaded, p);
  let where = opts.url !== undefined ? parseAdminUrl(opts.url)! : adminListen(admin, resolve);
  // A server listening on every address is reached on loopback.
  if (where.kind === 'tcp' && (where.host === '0.0.0.0' || where.host === '::')) where = { ...where, host: where.host === '::' ? '::1' : '127.0.0.1' };
  return { where, token: opts.tokenFile !== undefined ? readTokenFile(opts.tokenFile) : adminToken(admin, resolve) };
}

const out = (line: string): void => void process.stdout.write(`${line}\n`);

/** Columns padded to their widest cell; the last one is not. */
export function table(rows: string[][]): string[] {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length))) ?? [];
  return rows.map((r) => r.map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

const when = (ms: number) => new Date(ms).toISOString().replace(/\.\d+Z$/, 'Z');

interface FilterOptions extends ApiOptions {
  user?: string;
  rip?: string;
  backend?: string;
  protocol?: string;
}

function filterOf(opts: FilterOptions): Record<string, string> {
  const f: Record<string, string> = {};
  for (const k of ['user', 'rip', 'backend', 'protocol'] as const) if (opts[k] !== undefined) f[k] = opts[k]!;
  return f;
}

function withFilterOptions(cmd: Command): Command {
  return cmd
    .option('--user <user>', 'this user (`*` and `?` are wildcards)')
    .option('--rip <address>', 'client address, or network such as 192.0.2.0/24')
    .option('--backend <host[:port]>', 'sessions proxied to this backend')
    .option('--protocol <protocol>', 'imap, pop3 or lmtp');
}

export function whoCommand(): Command {
  return withApiOptions(withFilterOptions(new Command('who')))
    .description('List the open sessions of a running server, like `doveadm who` / `doveadm proxy list`: user, protocol, client address, backend, since when, bytes from and to the client.')
    .option('--json', 'print the sessions as JSON, as the API gives them')
    .addHelpText('after', '\nExamples:\n  postern who -c /etc/postern/postern.yaml\n  postern who -c /etc/postern/postern.yaml --user alice@example.org\n  postern who --url http://127.0.0.1:8080 --token-file /etc/postern/admin.token --backend 10.0.0.5 --json\n')
    .action(async (opts: FilterOptions & { json?: boolean }) => {
      const ep = apiEndpoint(opts);
      const query = new URLSearchParams(filterOf(opts)).toString();
      const { sessions } = (await adminCall(ep, 'GET', `/sessions${query ? `?${query}` : ''}`)) as { sessions: SessionInfo[] };
      if (opts.json) return out(JSON.stringify(sessions, null, 2));
      const rows = [['USER', 'PROTO', 'STATE', 'RIP', 'BACKEND', 'SINCE', 'IN', 'OUT']];
      for (const s of sessions) rows.push([s.user ?? '-', s.protocol, s.state, s.rip, s.backend ?? '-', when(s.since), String(s.bytesIn), String(s.bytesOut)]);
      for (const line of table(rows)) out(line);
    });
}

export function kickCommand(): Command {
  return withApiOptions(withFilterOptions(new Command('kick')))
    .description('End the matching sessions of a running server, like `doveadm kick` / `doveadm proxy kick`: each client gets the protocol\'s goodbye (IMAP `* BYE`, POP3 `-ERR`). Give --user, --rip or --backend (several narrow it).')
    .addHelpText('after', '\nExamples:\n  postern kick -c /etc/postern/postern.yaml --user alice@example.org\n  postern kick -c /etc/postern/postern.yaml --backend 10.0.0.5:143\n')
    .action(async (opts: FilterOptions) => {
      if (opts.user === undefined && opts.rip === undefined && opts.backend === undefined) usage('give --user, --rip or --backend');
      const { kicked } = (await adminCall(apiEndpoint(opts), 'POST', '/kick', filterOf(opts))) as { kicked: number };
      out(`${kicked} session${kicked === 1 ? '' : 's'} kicked`);
    });
}

export function reloadCommand(): Command {
  return withApiOptions(new Command('reload'))
    .description('Ask a running server to reload its configuration.')
    .addHelpText('after', '\nExample:\n  postern reload -c /etc/postern/postern.yaml\n')
    .action(async (opts: ApiOptions) => {
      const ep = apiEndpoint(opts);
      await adminCall(ep, 'POST', '/reload');
      out(`reloaded (${describeEndpoint(ep.where)})`);
    });
}

export function backendsCommand(): Command {
  return withApiOptions(new Command('backends'))
    .description('Show the health of the backends a running server proxies to: sessions open, backend logins, failures (recent ones and since the last success), the last failure.')
    .option('--json', 'print the list as JSON, as the API gives it')
    .addHelpText('after', '\nExample:\n  postern backends -c /etc/postern/postern.yaml\n')
    .action(async (opts: ApiOptions & { json?: boolean }) => {
      const { backends } = (await adminCall(apiEndpoint(opts), 'GET', '/backends')) as { backends: BackendHealth[] };
      if (opts.json) return out(JSON.stringify(backends, null, 2));
      const rows = [['BACKEND', 'SESSIONS', 'LOGINS', 'FAILURES', 'RECENT', 'IN_A_ROW', 'LAST_FAILURE']];
      for (const b of backends) {
        const last = b.lastFailure ? `${when(b.lastFailure.at)} ${b.lastFailure.kind}: ${b.lastFailure.detail}` : '-';
        rows.push([b.backend, String(b.sessions), String(b.logins), String(b.failures), String(b.recentFailures), String(b.consecutiveFailures), last]);
      }
      for (const line of table(rows)) out(line);
    });
}
