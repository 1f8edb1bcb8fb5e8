// POP3 AUTH with the mechanisms beyond PLAIN and LOGIN, master users and OAuth forwarding:
// RFC 5034 framing over the real chain (auth/sasl), driven byte by byte.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { startFakePop3Backend, type FakePop3Backend } from '../../../test/support/fake-pop3-backend.js';
import { MULTI_END, readPop3 } from '../../../test/support/pop3-client.js';
import { startPop3Front, type TestFront } from '../../../test/support/pop3-front.js';
import { cramMd5Response, saslTestAuthenticator, scramClient } from '../../auth/sasl/test-clients.js';

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const A = '\x01';
const CONT = /^\+ [^\r\n]*\r\n/m;
const cont = (line: string) => Buffer.from(line.slice(2).trim(), 'base64');
const LOCAL = '-ERR [SYS/TEMP] Account is temporarily unavailable.\r\n';
const FAILED = '-ERR [AUTH] Authentication failed.\r\n';
const XO = b64(`user=carol${A}auth=Bearer ya29.carol${A}${A}`);

describe('POP3 AUTH: CRAM-MD5, SCRAM, XOAUTH2, master users', () => {
  let front: TestFront;
  let afar: TestFront;
  let backend: FakePop3Backend;
  before(async () => {
    backend = await startFakePop3Backend({
      script: (line) => (line === `AUTH XOAUTH2 ${XO}` || line === `AUTH PLAIN ${b64('alice\0admin\0admin-pw')}` ? '+OK Logged in.' : undefined),
    });
    const authenticator = saslTestAuthenticator(backend.port);
    const mechanisms = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-1', 'XOAUTH2', 'OAUTHBEARER', 'EXTERNAL'];
    front = await startPop3Front({ users: {}, authenticator, mechanisms });
    afar = await startPop3Front({ users: {}, authenticator, mechanisms, remoteIp: '192.0.2.99' });
  });
  after(async () => {
    await front.close();
    await afar.close();
    await backend.close();
  });

  it('CAPA SASL and the bare AUTH list what this connection may use', async () => {
    const c = await readPop3(front.port);
    assert.match(await c.pop('CAPA', MULTI_END), /\r\nSASL PLAIN LOGIN CRAM-MD5 SCRAM-SHA-1 XOAUTH2 OAUTHBEARER\r\n/);
    c.close();
    const d = await readPop3(afar.port);
    assert.match(await d.pop('CAPA', MULTI_END), /\r\nSASL CRAM-MD5 SCRAM-SHA-1\r\n\.\r\n$/);
    assert.equal(await d.pop('AUTH', MULTI_END), '+OK\r\nCRAM-MD5\r\nSCRAM-SHA-1\r\n.\r\n');
    assert.equal(await d.pop(`AUTH XOAUTH2 ${XO}`), '-ERR [AUTH] Plaintext authentication disabled.\r\n');
    d.close();
  });

  it('CRAM-MD5 before TLS from afar', async () => {
    const c = await readPop3(afar.port);
    const ch = await c.pop('AUTH CRAM-MD5', CONT);
    assert.equal(await c.pop(b64(cramMd5Response('bob', 'bob-pw', cont(ch)))), LOCAL);
    const again = await c.pop('AUTH CRAM-MD5', CONT);
    assert.equal(await c.pop(b64(cramMd5Response('bob', 'x', cont(again)))), FAILED);
    c.close();
  });

  it('SCRAM-SHA-1: the server proof as one more "+", then the reply', async () => {
    const c = await readPop3(front.port);
    const s = scramClient('sha1', 'bob', 'bob-pw', 'popnonce');
    const first = await c.pop(`AUTH SCRAM-SHA-1 ${b64(s.first())}`, CONT);
    const final = await c.pop(b64(s.final(cont(first))), CONT);
    assert.equal(cont(final).toString(), s.expectedVerifier());
    assert.equal(await c.pop(''), LOCAL);
    c.close();
  });

  it('XOAUTH2 forwarded: the backend gets AUTH XOAUTH2 with the token; a refusal gets the JSON first', async () => {
    const c = await readPop3(front.port);
    assert.equal(await c.pop(`AUTH XOAUTH2 ${XO}`), '+OK Logged in.\r\n');
    assert.ok(backend.lines.includes(`AUTH XOAUTH2 ${XO}`));
    c.close();
    const d = await readPop3(front.port);
    const ch = await d.pop(`AUTH OAUTHBEARER ${b64(`n,a=bob,${A}auth=Bearer bad${A}${A}`)}`, CONT);
    assert.deepEqual(JSON.parse(cont(ch).toString()), { status: 'invalid_token', scope: 'mail' });
    assert.equal(await d.pop('AQ=='), FAILED);
    d.close();
  });

  it('a 12 KB token fits (nginx has a 128-byte POP3 buffer: operator-asks.md #1)', async () => {
    const c = await readPop3(front.port);
    const ch = await c.pop(`AUTH XOAUTH2 ${b64(`user=bob${A}auth=Bearer ${'x'.repeat(12 * 1024)}${A}${A}`)}`, CONT);
    assert.equal(JSON.parse(cont(ch).toString()).status, '401');
    assert.equal(await c.pop(''), FAILED);
    c.close();
  });

  it('master users: user*master and the authzid; an unknown user is an authorization failure', async () => {
    const c = await readPop3(front.port);
    assert.equal(await c.pop('USER alice*admin\r\nPASS admin-pw', /^(\+OK Logged|-ERR)[^\r\n]*\r\n/m), '+OK\r\n+OK Logged in.\r\n');
    c.close();
    const d = await readPop3(front.port);
    assert.equal(await d.pop(`AUTH PLAIN ${b64('alice\0admin\0admin-pw')}`), '+OK Logged in.\r\n');
    d.close();
    const e = await readPop3(front.port);
    assert.equal(await e.pop(`AUTH PLAIN ${b64('ghost\0admin\0admin-pw')}`), '-ERR [AUTH] Authorization failed\r\n');
    assert.equal(await e.pop('USER ghost*admin\r\nPASS admin-pw', /^-ERR[^\r\n]*\r\n/m), '+OK\r\n-ERR [AUTH] Authorization failed\r\n');
    e.close();
  });

  it('EXTERNAL without a client certificate is not offered and fails', async () => {
    const c = await readPop3(front.port);
    assert.equal(await c.pop('AUTH EXTERNAL ='), FAILED);
    c.close();
  });
});
