import { test } from 'node:test';
import assert from 'node:assert/strict';
import { cramMd5Context } from '../schemes/cram-md5.js';
import { getMechanism } from './index.js';

const RFC2195_CHALLENGE = '<1896.697170952@postoffice.reston.mci.net>';

function start() {
  const ex = getMechanism('CRAM-MD5')!.start({ challenge: () => RFC2195_CHALLENGE });
  const c = ex.next(null);
  assert.ok(c.kind === 'challenge');
  return { ex, challenge: c.data };
}

test('CRAM-MD5: the RFC 2195 §2 example, against a stored {CRAM-MD5} context', () => {
  const { ex, challenge } = start();
  assert.equal(challenge.toString(), RFC2195_CHALLENGE);
  const step = ex.next(Buffer.from('tim b913a602c7eda7a495b4e6e7334d3890'));
  assert.deepEqual(step, { kind: 'lookup', identity: { authcid: 'tim' }, scheme: 'CRAM-MD5' });
  assert.deepEqual(ex.credentials!(cramMd5Context('tanstaaftanstaaf').toString('hex')), { kind: 'proven' });
});

test('CRAM-MD5: a wrong digest, a wrong password, broken stored data are mismatches', () => {
  let { ex } = start();
  ex.next(Buffer.from('tim b913a602c7eda7a495b4e6e7334d3891'));
  assert.deepEqual(ex.credentials!(cramMd5Context('tanstaaftanstaaf').toString('hex')), { kind: 'mismatch' });
  ({ ex } = start());
  ex.next(Buffer.from('tim b913a602c7eda7a495b4e6e7334d3890'));
  assert.deepEqual(ex.credentials!(cramMd5Context('other').toString('hex')), { kind: 'mismatch' });
  ({ ex } = start());
  ex.next(Buffer.from('tim B913A602C7EDA7A495B4E6E7334D3890'));
  assert.deepEqual(ex.credentials!('zz'), { kind: 'mismatch' });
});

test('CRAM-MD5: the user name may hold spaces (the last one separates), and upper-case hex is accepted', () => {
  const { ex } = start();
  const step = ex.next(Buffer.from('tim the enchanter B913A602C7EDA7A495B4E6E7334D3890'));
  assert.ok(step.kind === 'lookup' && step.identity.authcid === 'tim the enchanter');
});

test('CRAM-MD5: hostile and malformed responses', () => {
  const bad = ['', 'tim', ' b913a602c7eda7a495b4e6e7334d3890', 'tim b913a602c7eda7a495b4e6e7334d389', 'tim b913a602c7eda7a495b4e6e7334d38900', 'tim\0x b913a602c7eda7a495b4e6e7334d3890', 'tim zz13a602c7eda7a495b4e6e7334d3890', `${'x'.repeat(100000)}`];
  for (const b of bad) {
    const { ex } = start();
    assert.equal(ex.next(Buffer.from(b)).kind, 'invalid', JSON.stringify(b.slice(0, 40)));
  }
  const { ex } = start();
  assert.equal(ex.next(null).kind, 'invalid', 'no answer to the challenge');
});

test('CRAM-MD5: an initial response is ignored (server-first), as Dovecot does; challenges are fresh msg-ids', () => {
  const a = getMechanism('CRAM-MD5')!.start().next(Buffer.from('junk'));
  const b = getMechanism('CRAM-MD5')!.start().next(null);
  assert.ok(a.kind === 'challenge' && b.kind === 'challenge');
  assert.match(a.data.toString(), /^<\d+\.\d+@[^>]+>$/);
  assert.notEqual(a.data.toString(), b.data.toString());
});
