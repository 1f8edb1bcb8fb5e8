import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSaslResponse, getMechanism, plainClientResponse } from './index.js';

test('PLAIN with initial response', () => {
  const ex = getMechanism('plain')!.start();
  const step = ex.next(plainClientResponse('alice', 'pw', ''));
  assert.equal(step.kind, 'done');
  if (step.kind !== 'done') return;
  assert.equal(step.credentials.authcid, 'alice');
  assert.equal(step.credentials.password.reveal(), 'pw');
  assert.equal(step.credentials.authzid, undefined);
  assert.equal(JSON.stringify(step.credentials), '{"authcid":"alice","password":"***"}');
});

test('PLAIN without initial response asks once, with authzid', () => {
  const ex = getMechanism('PLAIN')!.start();
  assert.deepEqual(ex.next(null), { kind: 'challenge', data: Buffer.alloc(0) });
  const step = ex.next(plainClientResponse('master', 'secret', 'bob'));
  assert.equal(step.kind, 'done');
  if (step.kind === 'done') assert.equal(step.credentials.authzid, 'bob');
});

test('PLAIN rejects malformed messages', () => {
  for (const bad of ['', 'abc', '\0\0pw', 'a\0b\0c\0d']) {
    assert.equal(getMechanism('PLAIN')!.start().next(Buffer.from(bad)).kind, 'error', JSON.stringify(bad));
  }
});

test('LOGIN asks Username: then Password:', () => {
  const ex = getMechanism('LOGIN')!.start();
  assert.equal(ex.next(null).kind, 'challenge');
  const p = ex.next(Buffer.from('alice'));
  assert.ok(p.kind === 'challenge' && p.data.toString() === 'Password:');
  const done = ex.next(Buffer.from('pw'));
  assert.ok(done.kind === 'done' && done.credentials.authcid === 'alice' && done.credentials.password.reveal() === 'pw');
});

test('LOGIN with the user name as initial response', () => {
  const ex = getMechanism('LOGIN')!.start();
  const p = ex.next(Buffer.from('alice'));
  assert.ok(p.kind === 'challenge' && p.data.toString() === 'Password:');
});

test('base64 responses', () => {
  assert.deepEqual(decodeSaslResponse('='), Buffer.alloc(0));
  assert.equal(decodeSaslResponse('YWJj')!.toString(), 'abc');
  for (const bad of ['YWJ', 'YW*j', '====', 'a b ']) assert.equal(decodeSaslResponse(bad), null, bad);
});
