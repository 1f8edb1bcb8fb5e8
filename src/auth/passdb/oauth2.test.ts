import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { passdbSpecSchema } from '../config.js';
import { makeAuthRequest } from '../testing.js';
import type { Passdb } from '../types.js';
import { createPassdb } from './registry.js';

// A tiny RFC 7662 introspection endpoint on loopback; each token names its answer.
interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage['headers'];
  body: string;
}

const ANSWERS: Record<string, [number, unknown]> = {
  good: [200, { active: true, username: 'Alice@Example.org', scope: 'mail openid', aud: ['imap', 'smtp'] }],
  inactive: [200, { active: false }],
  other: [200, { active: true, username: 'mallory@example.org' }],
  noname: [200, { active: true }],
  narrow: [200, { active: true, username: 'alice@example.org', scope: 'calendar' }],
  revoked: [401, { error: 'invalid_token' }],
  broken: [500, 'oops'],
  garbage: [200, '{not json'],
};

describe('oauth2 passdb (RFC 7662 introspection)', () => {
  let server: Server;
  let url: string;
  const seen: Seen[] = [];
  let dir: string;

  before(async () => {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
        const token = new URLSearchParams(body).get('token') ?? (req.headers.authorization ?? '').replace(/^Bearer /, '') ?? '';
        const fromUrl = decodeURIComponent((req.url ?? '').split('access_token=')[1]?.split('&')[0] ?? '');
        const [status, answer] = ANSWERS[token || fromUrl] ?? [401, {}];
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(typeof answer === 'string' ? answer : JSON.stringify(answer));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/introspect`;
    dir = mkdtempSync(join(tmpdir(), 'postern-oauth2-'));
  });
  after(async () => {
    await new Promise((r) => server.close(r));
    rmSync(dir, { recursive: true, force: true });
  });

  const passdb = (oauth2: Record<string, unknown>): Passdb => createPassdb(passdbSpecSchema.parse({ driver: 'oauth2', oauth2: { introspection_url: url, ...oauth2 } }), {});
  const check = (p: Passdb, token: string | undefined, user = 'alice@example.org') => p.lookup(makeAuthRequest({ user, mech: 'XOAUTH2', ...(token !== undefined ? { password: token } : {}) }));

  it('post mode: token=… as a form, active_attribute/active_value, the user name compared lower-cased', async () => {
    const p = passdb({ introspection_mode: 'post', username_attribute: 'username', active_attribute: 'active', active_value: 'true' });
    assert.deepEqual(await check(p, 'good'), { kind: 'ok', fields: {} });
    const req = seen.at(-1)!;
    assert.equal(req.method, 'POST');
    assert.equal(req.body, 'token=good');
    assert.equal(req.headers['content-type'], 'application/x-www-form-urlencoded');
  });

  it('refusals: inactive, another user, a 4xx, a narrow scope', async () => {
    const p = passdb({ introspection_mode: 'post', username_attribute: 'username', scope: 'mail imap' });
    assert.deepEqual(await check(p, 'inactive'), { kind: 'passwordMismatch' });
    assert.deepEqual(await check(p, 'other'), { kind: 'userUnknown' });
    assert.deepEqual(await check(p, 'revoked'), { kind: 'passwordMismatch' });
    assert.deepEqual(await check(p, 'narrow'), { kind: 'userDisabled', reason: "Token is not valid for scope 'mail imap'" });
    assert.deepEqual(await check(p, 'good'), { kind: 'ok', fields: {} });
  });

  it('an active_value that differs, or a missing active_attribute, refuses', async () => {
    assert.deepEqual(await check(passdb({ introspection_mode: 'post', username_attribute: 'username', active_attribute: 'active', active_value: 'yes' }), 'good'), { kind: 'passwordMismatch' });
    assert.deepEqual(await check(passdb({ introspection_mode: 'post', username_attribute: 'username', active_attribute: 'enabled' }), 'good'), { kind: 'passwordMismatch' });
  });

  it('the endpoint failing is a temporary failure, never a wrong password', async () => {
    const p = passdb({ introspection_mode: 'post', username_attribute: 'username' });
    assert.equal((await check(p, 'broken')).kind, 'tempFail');
    assert.equal((await check(p, 'garbage')).kind, 'tempFail');
    assert.equal((await check(p, 'noname')).kind, 'tempFail');
    const dead = createPassdb(passdbSpecSchema.parse({ driver: 'oauth2', oauth2: { introspection_url: 'http://127.0.0.1:9/x', timeout_msecs: 2000 } }), {});
    assert.equal((await check(dead, 'good')).kind, 'tempFail');
  });

  it('auth mode: Authorization: Bearer; URL credentials become basic auth instead', async () => {
    assert.deepEqual(await check(passdb({ username_attribute: 'username' }), 'good'), { kind: 'ok', fields: {} });
    assert.equal(seen.at(-1)!.headers.authorization, 'Bearer good');
    const basic = createPassdb(passdbSpecSchema.parse({ driver: 'oauth2', oauth2: { introspection_url: url.replace('http://', 'http://client:s%3Acret@'), introspection_mode: 'post', username_attribute: 'username' } }), {});
    await check(basic, 'good');
    assert.equal(seen.at(-1)!.headers.authorization, `Basic ${Buffer.from('client:s:cret').toString('base64')}`);
  });

  it('get mode: the token appended to the URL, escaped, with client_id and client_secret', async () => {
    const p = createPassdb(passdbSpecSchema.parse({ driver: 'oauth2', oauth2: { introspection_url: `${url}?access_token=`, introspection_mode: 'get', username_attribute: 'username', client_id: 'cid' } }), {});
    assert.deepEqual(await check(p, 'good'), { kind: 'ok', fields: {} });
    assert.equal(seen.at(-1)!.url, '/introspect?access_token=good&client_id=cid');
  });

  it('send_auth_headers', async () => {
    await check(passdb({ introspection_mode: 'post', username_attribute: 'username', send_auth_headers: 'yes' }), 'good');
    const h = seen.at(-1)!.headers;
    assert.deepEqual([h['x-dovecot-auth-service'], h['x-dovecot-auth-remote']], ['imap', '192.0.2.10:50000']);
  });

  it('no token (a lookup) knows nobody; an empty or CR/LF token is refused without asking', async () => {
    const p = passdb({ introspection_mode: 'post', username_attribute: 'username' });
    const before = seen.length;
    assert.deepEqual(await check(p, undefined), { kind: 'userUnknown' });
    assert.deepEqual(await check(p, ''), { kind: 'passwordMismatch' });
    assert.deepEqual(await check(p, 'a\r\nb'), { kind: 'passwordMismatch' });
    assert.equal(seen.length, before);
  });

  it('settings from a Dovecot oauth2 file; unsupported keys are refused, tuning keys ignored', () => {
    const f = join(dir, 'dovecot-oauth2.conf.ext');
    writeFileSync(f, `introspection_url = ${url}\nintrospection_mode = post\nusername_attribute = username\nactive_attribute = active\nactive_value = true\nmax_parallel_connections = 10\n`);
    assert.equal(createPassdb(passdbSpecSchema.parse({ driver: 'oauth2', args: f }), {}).name, `oauth2 127.0.0.1:${new URL(url).port}`);
    writeFileSync(f, `introspection_url = ${url}\ntokeninfo_url = ${url}\n`);
    assert.throws(() => createPassdb(passdbSpecSchema.parse({ driver: 'oauth2', args: f }), {}), /tokeninfo_url is not supported/);
    assert.throws(() => passdbSpecSchema.parse({ driver: 'oauth2' }), /oauth2 needs either/);
    assert.throws(() => passdbSpecSchema.parse({ driver: 'static', oauth2: { introspection_url: url } }), /belong to driver oauth2/);
  });
});
