import { test } from 'node:test';
import assert from 'node:assert/strict';
import { getMechanism } from './index.js';

const mech = getMechanism('EXTERNAL')!;

test('EXTERNAL: the verified certificate is the identity; an empty message asks for nothing more', () => {
  assert.deepEqual(mech.start({ certUsername: 'alice' }).next(Buffer.alloc(0)), { kind: 'certificate', identity: { authcid: 'alice' } });
  const ex = mech.start({ certUsername: 'alice' });
  assert.deepEqual(ex.next(null), { kind: 'challenge', data: Buffer.alloc(0) });
  assert.deepEqual(ex.next(Buffer.alloc(0)), { kind: 'certificate', identity: { authcid: 'alice' } });
});

test('EXTERNAL: an authorization identity asks to act as another user (a master login); the same name is none', () => {
  assert.deepEqual(mech.start({ certUsername: 'admin' }).next(Buffer.from('bob')), { kind: 'certificate', identity: { authcid: 'admin', authzid: 'bob' } });
  assert.deepEqual(mech.start({ certUsername: 'bob' }).next(Buffer.from('bob')), { kind: 'certificate', identity: { authcid: 'bob' } });
});

test('EXTERNAL: without a verified certificate, or with a NUL, nothing', () => {
  assert.equal(mech.start().next(Buffer.alloc(0)).kind, 'invalid');
  assert.equal(mech.start({ certUsername: '' }).next(Buffer.alloc(0)).kind, 'invalid');
  assert.equal(mech.start({ certUsername: 'a' }).next(Buffer.from('b\0c')).kind, 'invalid');
  const ex = mech.start({ certUsername: 'a' });
  ex.next(Buffer.alloc(0));
  assert.equal(ex.next(Buffer.alloc(0)).kind, 'invalid');
});
