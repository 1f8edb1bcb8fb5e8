import { readFileSync } from 'node:fs';
import { silentLogger } from '../deps.js';
import type { AuthRequest, Fields, Passdb, PassdbResult } from '../types.js';
import { expandVars, varContextFromRequest } from '../vars.js';
import { passdbLabel, type PassdbDriver } from './descriptor.js';
import { resolveOauth2Settings, type Oauth2Settings } from './oauth2-settings.js';

/** Dovecot's timeout_msecs = 0 leaves its HTTP client's default; ours is this. */
const DEFAULT_TIMEOUT_MS = 30_000;
/** An introspection answer is a small JSON object; anything bigger is refused. */
const MAX_RESPONSE_BYTES = 64 * 1024;

type Introspection = { kind: 'fields'; fields: Fields } | { kind: 'refused'; why: string } | { kind: 'error'; reason: string };

/** The request Dovecot's lib-oauth2 would send (oauth2_introspection_start). */
function buildRequest(s: Oauth2Settings, token: string, req: AuthRequest): { url: string; init: RequestInit } {
  const url = new URL(s.introspection_url);
  const headers: Record<string, string> = { accept: 'application/json', 'user-agent': 'postern-oauth2-passdb' };
  // fetch refuses credentials in the URL; Dovecot's HTTP client sends them as basic auth.
  const basic = url.username !== '' || url.password !== '';
  if (basic) headers['authorization'] = `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`;
  url.username = '';
  url.password = '';
  if (s.send_auth_headers) {
    headers['x-dovecot-auth-service'] = req.service;
    if (req.localIp) headers['x-dovecot-auth-local'] = `${req.localIp}:${req.localPort}`;
    if (req.remoteIp) headers['x-dovecot-auth-remote'] = `${req.remoteIp}:${req.remotePort}`;
  }
  switch (s.introspection_mode) {
    case 'get': {
      const extra = `${s.client_id ? `&client_id=${encodeURIComponent(s.client_id)}` : ''}${s.client_secret ? `&client_secret=${encodeURIComponent(s.client_secret)}` : ''}`;
      return { url: `${url.toString()}${encodeURIComponent(token)}${extra}`, init: { method: 'GET', headers } };
    }
    case 'auth':
      if (!basic) headers['authorization'] = `Bearer ${token}`;
      return { url: url.toString(), init: { method: 'GET', headers } };
    case 'post':
      headers['content-type'] = 'application/x-www-form-urlencoded';
      return { url: url.toString(), init: { method: 'POST', headers, body: `token=${encodeURIComponent(token)}` } };
  }
}

/** Top-level values as text, as Dovecot's parser keeps them (booleans and numbers too); string arrays joined by spaces. */
function flatten(json: unknown): Fields | undefined {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return undefined;
  const fields: Fields = {};
  for (const [k, v] of Object.entries(json)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fields[k] = String(v);
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) fields[k] = v.join(' ');
  }
  return fields;
}

async function introspect(s: Oauth2Settings, token: string, req: AuthRequest): Promise<Introspection> {
  const { url, init } = buildRequest(s, token, req);
  let res: Response;
  try {
    res = await fetch(url, { ...init, signal: AbortSignal.timeout(s.timeout_msecs || DEFAULT_TIMEOUT_MS) });
  } catch (err) {
    return { kind: 'error', reason: `introspection request failed: ${(err as Error).message}` };
  }
  const body = Buffer.from(await res.arrayBuffer().catch(() => new ArrayBuffer(0)));
  // Dovecot: 4xx is "not valid", anything but 2xx and 4xx an internal failure.
  if (res.status >= 400 && res.status < 500) return { kind: 'refused', why: `introspection said HTTP ${res.status}` };
  if (res.status < 200 || res.status >= 300) return { kind: 'error', reason: `introspection answered HTTP ${res.status}` };
  if (body.length > MAX_RESPONSE_BYTES) return { kind: 'error', reason: 'introspection answer too large' };
  let fields: Fields | undefined;
  try {
    fields = body.length === 0 ? {} : flatten(JSON.parse(body.toString('utf8')));
  } catch {
    fields = undefined;
  }
  return fields === undefined ? { kind: 'error', reason: 'invalid introspection response data' } : { kind: 'fields', fields };
}

/** db_oauth2_process_fields: active, then the user name, then the scope. */
function judge(s: Oauth2Settings, f: Fields, req: AuthRequest): PassdbResult | undefined {
  // RFC 7662 §2.2: an inactive token says only active=false; Dovecot would report a missing user name.
  if (f['active'] === 'false') return { kind: 'passwordMismatch' };
  if (s.active_attribute !== '') {
    const v = f[s.active_attribute];
    if (v === undefined || (s.active_value !== '' && v !== s.active_value)) return { kind: 'passwordMismatch' };
  }
  const name = f[s.username_attribute];
  if (name === undefined) return { kind: 'tempFail', reason: `oauth2: no ${s.username_attribute} in the introspection response` };
  const ctx = varContextFromRequest(req);
  if (expandVars(s.username_format, ctx) !== expandVars(s.username_format, { ...ctx, user: name })) return { kind: 'userUnknown' };
  if (s.scope !== '') {
    const have = (f['scope'] ?? f['aud'] ?? '').split(' ');
    if (!s.scope.split(' ').some((w) => w !== '' && have.includes(w))) return { kind: 'userDisabled', reason: `Token is not valid for scope '${s.scope}'` };
  }
  return undefined;
}

/**
 * Dovecot's oauth2 passdb: the password is a bearer token (XOAUTH2, OAUTHBEARER, or PLAIN
 * with a token), checked at the introspection URL. A self-checking driver: it answers `ok`
 * or `passwordMismatch`; an unreachable endpoint is a temporary failure. Without a token
 * (a lookup) it knows nobody.
 */
export const oauth2Driver: PassdbDriver = {
  driver: 'oauth2',
  description: 'OAuth 2.0 bearer tokens checked at an RFC 7662 introspection URL (Dovecot oauth2): inline oauth2: settings or args naming a dovecot-oauth2.conf.ext.',
  create(spec, deps): Passdb {
    const settings = resolveOauth2Settings(spec, readConf, deps.baseDir);
    const log = (deps.log ?? silentLogger).child({ passdb: 'oauth2' });
    return {
      name: passdbLabel(spec, new URL(settings.introspection_url).host),
      async lookup(req): Promise<PassdbResult> {
        const token = req.password?.reveal();
        if (token === undefined) return { kind: 'userUnknown' };
        if (token === '' || /[\r\n]/.test(token)) return { kind: 'passwordMismatch' };
        const r = await introspect(settings, token, req);
        if (r.kind === 'error') {
          log.error({ user: req.user, reason: r.reason }, 'oauth2: token introspection failed');
          return { kind: 'tempFail', reason: r.reason };
        }
        if (r.kind === 'refused') {
          log.info({ user: req.user }, `oauth2: ${r.why}`);
          return { kind: 'passwordMismatch' };
        }
        const refusal = judge(settings, r.fields, req);
        if (refusal !== undefined) {
          log.info({ user: req.user, result: refusal.kind }, 'oauth2: token refused');
          return refusal;
        }
        return { kind: 'ok', fields: {} };
      },
      close: async () => {},
    };
  },
  abilities: () => ({ schemes: [], tokens: true }),
};

function readConf(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
