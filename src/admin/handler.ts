import { createHash, timingSafeEqual } from 'node:crypto';
import { isIP } from 'node:net';
import type { Secret } from '../core/index.js';
import type { SessionFilter } from '../login/index.js';
import type { AdminTarget } from './target.js';

/*
 * The admin API as a function from request to response: no sockets here (http.ts does those),
 * so every answer, bad input included, is tested without a server.
 */

export interface AdminRequest {
  method: string;
  /** Path and query, as the request line gives them. */
  url: string;
  authorization: string | undefined;
  body: string;
}

export interface AdminResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface AdminAuth {
  token: Secret;
  /** false: GET /metrics is answered without the token (Prometheus scrapes). */
  metricsTokenRequired: boolean;
}

const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';
const FILTER_KEYS = ['user', 'rip', 'backend', 'protocol'] as const;
const PROTOCOLS: ReadonlyArray<SessionFilter['protocol']> = ['imap', 'pop3', 'lmtp'];

const json = (status: number, value: unknown, headers: Record<string, string> = {}): AdminResponse => ({
  status,
  headers: { 'content-type': 'application/json', ...headers },
  body: `${JSON.stringify(value)}\n`,
});
const problem = (status: number, error: string, headers: Record<string, string> = {}) => json(status, { error }, headers);

/** Digests first: timingSafeEqual wants equal lengths, and the token's length must not leak either. */
function tokenMatches(authorization: string | undefined, token: Secret): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(authorization ?? '');
  if (!m) return false;
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token.reveal()));
}

function validCidr(value: string): boolean {
  const [addr = '', bits, extra] = value.split('/');
  const family = isIP(addr);
  if (family === 0 || extra !== undefined) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}

/** A session filter from query parameters or a JSON body; unknown keys and odd values are refused. */
export function parseFilter(entries: Iterable<[string, unknown]>): SessionFilter | { error: string } {
  const filter: SessionFilter = {};
  for (const [key, value] of entries) {
    if (!(FILTER_KEYS as readonly string[]).includes(key)) return { error: `unknown filter ${JSON.stringify(key)}: expected ${FILTER_KEYS.join(', ')}` };
    const k = key as (typeof FILTER_KEYS)[number];
    if (filter[k] !== undefined) return { error: `${k} given twice` };
    if (typeof value !== 'string' || value === '') return { error: `${k} must be a non-empty string` };
    if (k === 'protocol') {
      if (!PROTOCOLS.includes(value as SessionFilter['protocol'])) return { error: `protocol must be one of ${PROTOCOLS.join(', ')}` };
      filter.protocol = value as SessionFilter['protocol'];
    } else if (k === 'rip' && !validCidr(value)) return { error: 'rip must be an IP address or a network such as 192.0.2.0/24' };
    else filter[k] = value;
  }
  return filter;
}

type Parsed = { ok: true; value: Record<string, unknown> } | { ok: false; error: string };

function parseBody(body: string): Parsed {
  if (body.trim() === '') return { ok: true, value: {} };
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch (err) {
    return { ok: false, error: `the body is not JSON: ${(err as Error).message}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, error: 'the body must be a JSON object' };
  return { ok: true, value: value as Record<string, unknown> };
}

interface Route {
  method: 'GET' | 'POST';
  run(query: URLSearchParams, body: string, target: AdminTarget): Promise<AdminResponse>;
}

const ROUTES: Record<string, Route> = {
  '/sessions': {
    method: 'GET',
    async run(query, _body, target) {
      const filter = parseFilter(query.entries());
      if ('error' in filter) return problem(400, filter.error);
      return json(200, { sessions: await target.sessions(filter) });
    },
  },
  '/kick': {
    method: 'POST',
    async run(_query, body, target) {
      const parsed = parseBody(body);
      if (!parsed.ok) return problem(400, parsed.error);
      const filter = parseFilter(Object.entries(parsed.value));
      if ('error' in filter) return problem(400, filter.error);
      // As `doveadm kick`: a filter is required; kicking everyone is `postern serve`'s stop.
      if (filter.user === undefined && filter.rip === undefined && filter.backend === undefined) return problem(400, 'give user, rip or backend: an empty filter would kick every session');
      return json(200, { kicked: await target.kick(filter) });
    },
  },
  '/cache/flush': { method: 'POST', run: async (_q, _b, target) => json(200, { flushed: await target.flushCache() }) },
  '/backends': { method: 'GET', run: async (_q, _b, target) => json(200, { backends: await target.backends() }) },
  '/metrics': { method: 'GET', run: async (_q, _b, target) => ({ status: 200, headers: { 'content-type': PROMETHEUS_TEXT }, body: await target.metrics() }) },
  '/reload': {
    method: 'POST',
    async run(_q, _b, target) {
      const r = await target.reload();
      return r.ok ? json(200, r) : json(500, r);
    },
  },
};

/** Answers one request. Every endpoint needs the token, except /metrics when so configured. */
export async function handleAdminRequest(req: AdminRequest, target: AdminTarget, auth: AdminAuth): Promise<AdminResponse> {
  let url: URL;
  try {
    url = new URL(req.url, 'http://admin');
  } catch {
    return problem(400, 'bad request target');
  }
  const open = url.pathname === '/metrics' && !auth.metricsTokenRequired;
  if (!open && !tokenMatches(req.authorization, auth.token)) return problem(401, 'a valid token is required: Authorization: Bearer TOKEN', { 'www-authenticate': 'Bearer realm="postern"' });
  const route = ROUTES[url.pathname];
  if (route === undefined) return problem(404, `no such endpoint ${url.pathname}: try /sessions, /kick, /cache/flush, /backends, /metrics, /reload`);
  if (req.method !== route.method) return problem(405, `${url.pathname} takes ${route.method}`, { allow: route.method });
  try {
    return await route.run(url.searchParams, req.body, target);
  } catch (err) {
    return problem(500, (err as Error).message);
  }
}
