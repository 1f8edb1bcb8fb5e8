import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { getMechanism, oauthbearerClientResponse, xoauth2ClientResponse } from './index.js';

const A = '\x01';
const json = (b: Buffer | undefined) => JSON.parse(b!.toString()) as Record<string, string>;

test('OAUTHBEARER: the RFC 7628 §4.1 example', () => {
  const msg = `n,a=user@example.com,${A}host=server.example.com${A}port=143${A}auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==${A}${A}`;
  const step = getMechanism('OAUTHBEARER')!.start().next(Buffer.from(msg));
  assert.ok(step.kind === 'verify');
  assert.deepEqual(step.identity, { authcid: 'user@example.com' });
  assert.equal(step.secret.reveal(), 'vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==');
});

test("XOAUTH2: Google's example", () => {
  const msg = `user=someuser@example.com${A}auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg${A}${A}`;
  const step = getMechanism('XOAUTH2')!.start().next(Buffer.from(msg));
  assert.ok(step.kind === 'verify' && step.identity.authcid === 'someuser@example.com' && step.secret.reveal() === 'ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg');
});

test('the client halves produce what the server halves read (the backend login forwards them)', () => {
  const x = getMechanism('XOAUTH2')!.start().next(xoauth2ClientResponse('alice@example.org', 'tok.en-1'));
  assert.ok(x.kind === 'verify' && x.identity.authcid === 'alice@example.org' && x.secret.reveal() === 'tok.en-1');
  const o = getMechanism('OAUTHBEARER')!.start().next(oauthbearerClientResponse('a,b=c', 'tok', 'imap.example.org', 993));
  assert.ok(o.kind === 'verify' && o.identity.authcid === 'a,b=c' && o.secret.reveal() === 'tok');
  assert.equal(oauthbearerClientResponse('u', 't', 'h', 143).toString(), `n,a=u,${A}host=h${A}port=143${A}auth=Bearer t${A}${A}`);
});

test('no initial response: one empty challenge; "Bearer" in any case', () => {
  const ex = getMechanism('XOAUTH2')!.start();
  assert.deepEqual(ex.next(null), { kind: 'challenge', data: Buffer.alloc(0) });
  assert.equal(ex.next(Buffer.from(`user=u${A}auth=bEaReR t${A}${A}`)).kind, 'verify');
});

test('a refused token is owed the JSON error: Google status for XOAUTH2, RFC 6750 code for OAUTHBEARER', () => {
  assert.deepEqual(json(getMechanism('XOAUTH2')!.start().rejected!()), { status: '401', schemes: 'bearer', scope: 'mail' });
  assert.deepEqual(json(getMechanism('OAUTHBEARER')!.start().rejected!()), { status: 'invalid_token', scope: 'mail' });
});

test('OAUTHBEARER: malformed messages fail with invalid_request or invalid_token, and the JSON error', () => {
  const table: Array<[string, string, string]> = [
    ['empty', '', 'invalid_request'],
    ['no gs2 header', `${A}auth=Bearer t${A}${A}`, 'invalid_request'],
    ['no user (Dovecot requires a=)', `n,,${A}auth=Bearer t${A}${A}`, 'invalid_request'],
    ['channel binding', `p=tls-unique,a=u,${A}auth=Bearer t${A}${A}`, 'invalid_request'],
    ['spurious data after the header', `n,a=u,x${A}auth=Bearer t${A}${A}`, 'invalid_request'],
    ['no final separator', `n,a=u,${A}auth=Bearer t${A}`, 'invalid_request'],
    ['bad key', `n,a=u,${A}au th=Bearer t${A}${A}`, 'invalid_request'],
    ['control character in a value', `n,a=u,${A}host=a\x02b${A}auth=Bearer t${A}${A}`, 'invalid_request'],
    ['no token', `n,a=u,${A}host=h${A}${A}`, 'invalid_token'],
    ['not bearer', `n,a=u,${A}auth=Basic dTpw${A}${A}`, 'invalid_token'],
    ['empty token', `n,a=u,${A}auth=Bearer ${A}${A}`, 'invalid_token'],
  ];
  for (const [why, msg, status] of table) {
    const step = getMechanism('OAUTHBEARER')!.start().next(Buffer.from(msg));
    assert.ok(step.kind === 'invalid', why);
    assert.equal(json(step.data).status, status, why);
  }
});

test('XOAUTH2: malformed messages', () => {
  const table: Array<[string, string, string]> = [
    ['empty', '', '400'],
    ['no user', `auth=Bearer t${A}${A}`, '400'],
    ['empty user', `user=${A}auth=Bearer t${A}${A}`, '400'],
    ['no token', `user=u${A}${A}`, '400'],
    ['not bearer', `user=u${A}auth=Basic x${A}${A}`, '401'],
    ['CR in the token', `user=u${A}auth=Bearer a\rb${A}${A}`, '401'],
  ];
  for (const [why, msg, status] of table) {
    const step = getMechanism('XOAUTH2')!.start().next(Buffer.from(msg));
    assert.ok(step.kind === 'invalid', why);
    assert.equal(json(step.data).status, status, why);
  }
});

test('a second message after the verdict is refused; arbitrary bytes never throw', () => {
  for (const name of ['XOAUTH2', 'OAUTHBEARER']) {
    const ex = getMechanism(name)!.start();
    ex.next(Buffer.from('x'));
    assert.equal(ex.next(Buffer.from('y')).kind, 'invalid');
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (b) => void getMechanism(name)!.start().next(Buffer.from(b))));
  }
});
