import { isIP } from 'node:net';
import { z } from 'zod';

/** Where the admin API listens: a TCP address, or a unix socket (a path with a `/`). */
export type AdminListen = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/** `127.0.0.1:8080`, `[::1]:8080`, `localhost:8080`, or a socket path (`/run/postern/admin.sock`, `./admin.sock`). */
export function parseAdminListen(text: string): AdminListen | { kind: 'invalid'; why: string } {
  if (text.includes('/')) return { kind: 'unix', path: text };
  const m = /^\[([^\]]+)\]:(\d{1,5})$/.exec(text) ?? /^([^:[\]]+):(\d{1,5})$/.exec(text);
  if (!m) return { kind: 'invalid', why: 'expected host:port ([v6]:port) or a unix socket path' };
  const host = m[1]!;
  const port = Number(m[2]);
  if (port > 65535) return { kind: 'invalid', why: `port ${port} is out of range` };
  if (host !== 'localhost' && isIP(host) === 0) return { kind: 'invalid', why: `${host} is not an IP address (or localhost)` };
  return { kind: 'tcp', host, port };
}

/** 127.0.0.0/8, ::1 and `localhost`: the addresses only this machine can reach. */
export function loopbackHost(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^(::ffff:)?127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/i.test(host);
}

/** The `admin:` section: the HTTP API that lists and kicks sessions, flushes the auth cache, reloads, and serves metrics. */
export const adminConfigSchema = z
  .strictObject({
    listen: z
      .string()
      .min(1)
      .describe('Where the admin API listens: `127.0.0.1:8080`, `[::1]:8080`, or a unix socket path (anything with a `/`; relative paths are read from the config file\'s folder). Plain HTTP: a non-loopback address needs `allow_remote`.'),
    token: z.string().min(16).optional().describe('The bearer token every request must carry (`Authorization: Bearer TOKEN`), at least 16 characters. Give exactly one of `token`, `token_file`, `token_env`.'),
    token_file: z.string().min(1).optional().describe('A file holding the token (surrounding white space is dropped), read at start and by the `postern who`/`kick`/`reload`/`cache flush` verbs.'),
    token_env: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name')
      .optional()
      .describe('The name of an environment variable holding the token.'),
    allow_remote: z.boolean().prefault(false).describe('Allow `listen` on an address other than loopback. The API speaks plain HTTP: put it behind TLS (a reverse proxy) or on a private network.'),
    metrics_token_required: z.boolean().prefault(true).describe('Whether `GET /metrics` needs the token too. Set false to let Prometheus scrape without one; every other endpoint always needs it.'),
  })
  .superRefine((a, ctx) => {
    const given = (['token', 'token_file', 'token_env'] as const).filter((k) => a[k] !== undefined);
    if (given.length !== 1) ctx.addIssue({ code: 'custom', path: given.length === 0 ? ['token'] : [given[1]!], message: 'give exactly one of token, token_file and token_env' });
    const where = parseAdminListen(a.listen);
    if (where.kind === 'invalid') ctx.addIssue({ code: 'custom', path: ['listen'], message: where.why });
    else if (where.kind === 'tcp' && !loopbackHost(where.host) && !a.allow_remote) {
      ctx.addIssue({ code: 'custom', path: ['listen'], message: `${where.host} is not a loopback address: the admin API is plain HTTP; set allow_remote: true to listen there anyway` });
    }
  })
  .describe('The admin HTTP API and Prometheus metrics (see docs/admin-and-metrics.md). Off when absent.');

export type AdminConfig = z.output<typeof adminConfigSchema>;
