import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decodeSaslResponse, getMechanism, listMechanisms, plainClientResponse } from './index.js';

test('PLAIN with initial response', () => {
  const ex = getMechanism('plain')!.start();
  const step = ex.next(plainClientResponse('alice', 'pw', ''));
  assert.equal(step.kind, 'verify');
  if (step.kind !== 'verify') return;
  assert.deepEqual(step.identity, { authcid: 'alice' });
  assert.equal(step.secret.reveal(), 'pw');
  assert.equal(JSON.stringify(step.secret), '"***"');
});

test('PLAIN without initial response asks once, with authzid', () => {
  const ex = getMechanism('PLAIN')!.start();
  assert.deepEqual(ex.next(null), { kind: 'challenge', data: Buffer.alloc(0) });
  const step = ex.next(plainClientResponse('master', 'secret', 'bob'));
  assert.ok(step.kind === 'verify' && step.identity.authzid === 'bob' && step.identity.authcid === 'master');
  assert.equal(getMechanism('PLAIN')!.start().next(null).kind, 'challenge');
});

test('PLAIN: an authzid equal to the authcid is no authzid', () => {
  const step = getMechanism('PLAIN')!.start().next(plainClientResponse('bob', 'pw', 'bob'));
  assert.ok(step.kind === 'verify' && step.identity.authzid === undefined);
});

test('PLAIN rejects malformed messages', () => {
  for (const bad of ['', 'abc', '\0\0pw', 'a\0b\0c\0d']) {
    assert.equal(getMechanism('PLAIN')!.start().next(Buffer.from(bad)).kind, 'invalid', JSON.stringify(bad));
  }
  const ex = getMechanism('PLAIN')!.start();
  ex.next(null);
  assert.equal(ex.next(null).kind, 'invalid', 'a second empty answer');
});

test('LOGIN asks Username: then Password:', () => {
  const ex = getMechanism('LOGIN')!.start();
  assert.equal(ex.next(null).kind, 'challenge');
  const p = ex.next(Buffer.from('alice'));
  assert.ok(p.kind === 'challenge' && p.data.toString() === 'Password:');
  const done = ex.next(Buffer.from('pw'));
  assert.ok(done.kind === 'verify' && done.identity.authcid === 'alice' && done.secret.reveal() === 'pw');
});

test('LOGIN with the user name as initial response', () => {
  const ex = getMechanism('LOGIN')!.start();
  const p = ex.next(Buffer.from('alice'));
  assert.ok(p.kind === 'challenge' && p.data.toString() === 'Password:');
});

test('LOGIN refuses an empty or NUL user name', () => {
  for (const bad of ['', 'a\0b']) assert.equal(getMechanism('LOGIN')!.start().next(Buffer.from(bad)).kind, 'invalid');
});

test('the registry: every mechanism, each declaring its need and flags', () => {
  const table: Array<[string, string, string[]]> = [
    ['PLAIN', 'plaintext', ['plaintext']],
    ['LOGIN', 'plaintext', ['plaintext']],
    ['CRAM-MD5', 'credentials:CRAM-MD5', ['dictionary', 'active']],
    ['SCRAM-SHA-1', 'credentials:SCRAM-SHA-1', ['mutual-auth']],
    ['SCRAM-SHA-256', 'credentials:SCRAM-SHA-256', ['mutual-auth']],
    ['XOAUTH2', 'token', ['plaintext']],
    ['OAUTHBEARER', 'token', ['plaintext']],
    ['EXTERNAL', 'certificate', []],
  ];
  assert.deepEqual(listMechanisms(), table.map(([n]) => n));
  for (const [name, need, flags] of table) {
    const m = getMechanism(name.toLowerCase())!;
    assert.equal(m.needs.kind === 'credentials' ? `credentials:${m.needs.scheme}` : m.needs.kind, need, name);
    assert.deepEqual(m.flags, flags, name);
  }
  assert.equal(getMechanism('DIGEST-MD5'), undefined);
});

test('base64 responses', () => {
  assert.deepEqual(decodeSaslResponse('='), Buffer.alloc(0));
  assert.equal(decodeSaslResponse('YWJj')!.toString(), 'abc');
  for (const bad of ['YWJ', 'YW*j', '====', 'a b ']) assert.equal(decodeSaslResponse(bad), null, bad);
});
