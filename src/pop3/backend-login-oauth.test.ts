import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret } from '../core/index.js';
import type { BackendTarget, LoginStep } from '../proxy/index.js';
import { Pop3BackendLogin } from './backend-login.js';

// proxy_mech=xoauth2 / oauthbearer: the client's token (the forwarded password) goes to the
// backend in the same mechanism; a refusal's JSON challenge is acknowledged so the NO follows.

const A = '\x01';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const XO = b64(`user=alice@example.org${A}auth=Bearer ya29.tok${A}${A}`);

function target(over: Partial<BackendTarget>): BackendTarget {
  return { host: 'imap.example.org', port: 143, tls: 'none', verifyCert: false, user: 'alice@example.org', password: new Secret('ya29.tok'), nopipelining: false, notTrusted: true, timeoutMs: 30_000, ...over };
}
const text = (s: LoginStep) => (s.kind === 'write' ? `write ${String(s.data)}` : s.kind === 'failure' ? `failure ${s.failure.kind}` : s.kind === 'success' ? `success ${String(s.clientReply)}` : s.kind);

function pop3(t: Partial<BackendTarget>, lines: string[]): string[] {
  const m = new Pop3BackendLogin({ target: target({ port: 110, ...t }), forward: { session: 's', clientIp: '192.0.2.1', clientPort: 1, ttl: 5 } });
  return [...m.onConnected(false, true), ...lines.flatMap((l) => m.onData(Buffer.from(l)))].map(text);
}

describe('POP3 backend login with proxy_mech xoauth2 / oauthbearer', () => {
  it('AUTH XOAUTH2 with the initial response', () => {
    assert.deepEqual(pop3({ mech: 'XOAUTH2' }, ['+OK ready\r\n', '+OK Logged in.\r\n']), [`write AUTH XOAUTH2 ${XO}\r\n`, 'success +OK Logged in.\r\n']);
  });

  it('AUTH OAUTHBEARER; a JSON challenge is acknowledged and the -ERR is a refusal', () => {
    const ob = b64(`n,a=alice@example.org,${A}host=imap.example.org${A}port=110${A}auth=Bearer ya29.tok${A}${A}`);
    assert.deepEqual(pop3({ mech: 'OAUTHBEARER' }, ['+OK ready\r\n', '+ eyJ9\r\n', '-ERR [AUTH] Authentication failed.\r\n']), [`write AUTH OAUTHBEARER ${ob}\r\n`, 'write AQ==\r\n', 'failure authRefused']);
  });

  it('a second challenge is a protocol error; a master user with a token mechanism a configuration error', () => {
    assert.deepEqual(pop3({ mech: 'XOAUTH2' }, ['+OK ready\r\n', '+ eyJ9\r\n', '+ eyJ9\r\n']).slice(1), ['write \r\n', 'failure protocol']);
    assert.deepEqual(pop3({ mech: 'XOAUTH2', master: 'admin' }, ['+OK ready\r\n']), ['failure config']);
  });
});
