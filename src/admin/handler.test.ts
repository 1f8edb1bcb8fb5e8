import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Secret } from '../core/index.js';
import type { SessionFilter } from '../login/index.js';
import { handleAdminRequest, type AdminAuth, type AdminRequest } from './handler.js';
import type { AdminTarget } from './target.js';

const TOKEN = 'a-token-of-enough-length';
const auth: AdminAuth = { token: new Secret(TOKEN), metricsTokenRequired: true };

/** A target that records what it was asked. */
function recorder(reload: Awaited<ReturnType<AdminTarget['reload']>> = { ok: true }) {
  const calls: Array<[string, SessionFilter?]> = [];
  const target: AdminTarget = {
    sessions: async (f) => (calls.push(['sessions', f]), []),
    kick: async (f) => (calls.push(['kick', f]), 2),
    flushCache: async () => (calls.push(['flush']), 7),
    backends: async () => [],
    metrics: async () => 'postern_x 1\n',
    reload: async () => reload,
  };
  return { target, calls };
}

/** `null`: no Authorization header. */
const req = (method: string, url: string, body = '', authorization: string | null = `Bearer ${TOKEN}`): AdminRequest => ({ method, url, body, authorization: authorization ?? undefined });
const parse = (body: string) => JSON.parse(body) as Record<string, unknown>;

describe('admin API handler', () => {
  it('answers 401 without the token, with a wrong one, or another scheme; with WWW-Authenticate', async () => {
    const { target, calls } = recorder();
    for (const a of [null, 'Bearer wrong', `Basic ${TOKEN}`, `Bearer ${TOKEN}x`, `Bearer`, `Bearer ${TOKEN.slice(0, -1)}`]) {
      const r = await handleAdminRequest(req('GET', '/sessions', '', a), target, auth);
      assert.equal(r.status, 401, String(a));
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="postern"');
      assert.doesNotMatch(r.body, new RegExp(TOKEN));
    }
    // Before the route is looked at: an unknown path does not tell whether it exists.
    assert.equal((await handleAdminRequest(req('GET', '/nope', '', null), target, auth)).status, 401);
    assert.deepEqual(calls, []);
  });

  it('answers /metrics without the token only when metrics_token_required is false', async () => {
    const { target } = recorder();
    assert.equal((await handleAdminRequest(req('GET', '/metrics', '', null), target, auth)).status, 401);
    const open = await handleAdminRequest(req('GET', '/metrics', '', null), target, { ...auth, metricsTokenRequired: false });
    assert.equal(open.status, 200);
    assert.equal(open.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(open.body, 'postern_x 1\n');
    assert.equal((await handleAdminRequest(req('GET', '/sessions', '', null), target, { ...auth, metricsTokenRequired: false })).status, 401, 'only /metrics');
  });

  it('unknown path 404, wrong method 405 with Allow', async () => {
    const { target } = recorder();
    const r = await handleAdminRequest(req('GET', '/session'), target, auth);
    assert.equal(r.status, 404);
    assert.match(String(parse(r.body)['error']), /no such endpoint \/session/);
    const m = await handleAdminRequest(req('GET', '/kick'), target, auth);
    assert.equal(m.status, 405);
    assert.equal(m.headers['allow'], 'POST');
    assert.equal((await handleAdminRequest(req('DELETE', '/sessions'), target, auth)).status, 405);
    assert.equal((await handleAdminRequest(req('POST', '/metrics'), target, auth)).status, 405);
  });

  it('GET /sessions passes a checked filter; bad parameters are 400', async () => {
    const { target, calls } = recorder();
    const ok = await handleAdminRequest(req('GET', '/sessions?user=al*&rip=192.0.2.0/24&backend=10.0.0.1:143&protocol=imap'), target, auth);
    assert.equal(ok.status, 200);
    assert.deepEqual(parse(ok.body), { sessions: [] });
    assert.deepEqual(calls, [['sessions', { user: 'al*', rip: '192.0.2.0/24', backend: '10.0.0.1:143', protocol: 'imap' }]]);
    const bad: Array<[string, RegExp]> = [
      ['/sessions?usr=alice', /unknown filter "usr"/],
      ['/sessions?user=a&user=b', /user given twice/],
      ['/sessions?user=', /non-empty/],
      ['/sessions?rip=not-an-ip', /rip must be an IP address/],
      ['/sessions?rip=10.0.0.0/33', /rip must be/],
      ['/sessions?protocol=smtp', /protocol must be one of imap, pop3, lmtp/],
    ];
    for (const [url, why] of bad) {
      const r = await handleAdminRequest(req('GET', url), target, auth);
      assert.equal(r.status, 400, url);
      assert.match(String(parse(r.body)['error']), why, url);
    }
    assert.equal(calls.length, 1);
  });

  it('POST /kick needs JSON with user, rip or backend', async () => {
    const { target, calls } = recorder();
    const ok = await handleAdminRequest(req('POST', '/kick', '{"user":"alice","protocol":"pop3"}'), target, auth);
    assert.equal(ok.status, 200);
    assert.deepEqual(parse(ok.body), { kicked: 2 });
    assert.deepEqual(calls, [['kick', { user: 'alice', protocol: 'pop3' }]]);
    const bad: Array<[string, RegExp]> = [
      ['{"user":', /not JSON/],
      ['[1]', /JSON object/],
      ['"alice"', /JSON object/],
      ['', /empty filter/],
      ['{}', /empty filter/],
      ['{"protocol":"imap"}', /empty filter/],
      ['{"user":7}', /user must be a non-empty string/],
      ['{"user":"a","all":true}', /unknown filter "all"/],
    ];
    for (const [body, why] of bad) {
      const r = await handleAdminRequest(req('POST', '/kick', body), target, auth);
      assert.equal(r.status, 400, body);
      assert.equal(r.headers['content-type'], 'application/json');
      assert.match(String(parse(r.body)['error']), why, body);
    }
    assert.equal(calls.length, 1, 'nothing kicked on bad input');
  });

  it('POST /cache/flush and /reload; a failed reload is a 500 with its reason; a throwing target a 500', async () => {
    const { target } = recorder({ ok: false, error: 'reload not supported' });
    assert.deepEqual(parse((await handleAdminRequest(req('POST', '/cache/flush'), target, auth)).body), { flushed: 7 });
    const r = await handleAdminRequest(req('POST', '/reload'), target, auth);
    assert.equal(r.status, 500);
    assert.deepEqual(parse(r.body), { ok: false, error: 'reload not supported' });
    assert.equal((await handleAdminRequest(req('POST', '/reload'), recorder().target, auth)).status, 200);
    const broken = { ...target, backends: async () => Promise.reject(new Error('boom')) };
    const b = await handleAdminRequest(req('GET', '/backends'), broken, auth);
    assert.equal(b.status, 500);
    assert.deepEqual(parse(b.body), { error: 'boom' });
  });
});
