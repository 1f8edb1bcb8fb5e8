import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret } from '../core/index.js';
import type { BackendTarget, LoginStep } from '../proxy/index.js';
import { ImapBackendLogin } from './backend-login.js';

// proxy_mech=xoauth2 / oauthbearer: the client's token (the forwarded password) goes to the
// backend in the same mechanism; a refusal's JSON challenge is acknowledged so the NO follows.

const A = '\x01';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const XO = b64(`user=alice@example.org${A}auth=Bearer ya29.tok${A}${A}`);
const OB = b64(`n,a=alice@example.org,${A}host=imap.example.org${A}port=143${A}auth=Bearer ya29.tok${A}${A}`);

function target(over: Partial<BackendTarget>): BackendTarget {
  return { host: 'imap.example.org', port: 143, tls: 'none', verifyCert: false, user: 'alice@example.org', password: new Secret('ya29.tok'), nopipelining: false, notTrusted: true, timeoutMs: 30_000, ...over };
}
const text = (s: LoginStep) => (s.kind === 'write' ? `write ${String(s.data)}` : s.kind === 'failure' ? `failure ${s.failure.kind}` : s.kind === 'success' ? `success ${String(s.clientReply)}` : s.kind);

function imap(t: Partial<BackendTarget>, lines: string[]): string[] {
  const m = new ImapBackendLogin({ target: target(t), clientTag: 'a', clientAskedCapability: false, forward: { session: 's', clientIp: '192.0.2.1', clientPort: 1, localIp: '192.0.2.2', localPort: 143, ttl: 5 } });
  return [...m.onConnected(false), ...lines.flatMap((l) => m.onData(Buffer.from(l)))].map(text);
}

describe('IMAP backend login with proxy_mech xoauth2 / oauthbearer', () => {
  it('XOAUTH2 with SASL-IR, as the interop backend sees it', () => {
    assert.deepEqual(imap({ mech: 'XOAUTH2' }, ['* OK [CAPABILITY IMAP4rev1 SASL-IR AUTH=XOAUTH2] hi\r\n', 'a1 x\r\nL OK [CAPABILITY IMAP4rev1] Logged in\r\n']), [
      `write L AUTHENTICATE XOAUTH2 ${XO}\r\n`,
      'success a OK [CAPABILITY IMAP4rev1] Logged in\r\n',
    ]);
  });

  it('OAUTHBEARER names the backend host and port, as Dovecot does', () => {
    assert.deepEqual(imap({ mech: 'OAUTHBEARER' }, ['* OK [CAPABILITY IMAP4rev1 SASL-IR] hi\r\n']), [`write L AUTHENTICATE OAUTHBEARER ${OB}\r\n`]);
  });

  it('without SASL-IR the token follows the "+"', () => {
    assert.deepEqual(imap({ mech: 'XOAUTH2' }, ['* OK [CAPABILITY IMAP4rev1] hi\r\n', '+ \r\n']), ['write L AUTHENTICATE XOAUTH2\r\n', `write ${XO}\r\n`]);
  });

  it('a refused token: the JSON challenge is answered (empty for XOAUTH2, %x01 for OAUTHBEARER), then NO is a refusal', () => {
    const json = b64('{"status":"401","schemes":"bearer","scope":"mail"}');
    assert.deepEqual(imap({ mech: 'XOAUTH2' }, ['* OK [CAPABILITY IMAP4rev1 SASL-IR] hi\r\n', `+ ${json}\r\n`, 'L NO [AUTHENTICATIONFAILED] Authentication failed.\r\n']), [
      `write L AUTHENTICATE XOAUTH2 ${XO}\r\n`,
      'write \r\n',
      'failure authRefused',
    ]);
    assert.deepEqual(imap({ mech: 'OAUTHBEARER' }, ['* OK [CAPABILITY IMAP4rev1 SASL-IR] hi\r\n', `+ ${json}\r\n`, '+ again\r\n', 'L NO x\r\n']).slice(1), ['write AQ==\r\n', 'failure authRefused']);
  });

  it('a master user cannot go with a token mechanism', () => {
    assert.deepEqual(imap({ mech: 'XOAUTH2', master: 'admin' }, ['* OK [CAPABILITY IMAP4rev1 SASL-IR] hi\r\n']), ['failure config']);
  });
});
