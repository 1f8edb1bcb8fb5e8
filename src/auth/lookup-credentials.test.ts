import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChainAuthenticator } from './authenticator.js';
import { MemoryPassdb } from './memory.js';
import { cramMd5Context } from './schemes/cram-md5.js';
import { makeAuthRequest } from './testing.js';
import type { Passdb, PassdbResult } from './types.js';

// lookupCredentials and lookupUser run the same chain and rules as authenticate.

const CRAM = cramMd5Context('pw').toString('hex');
const fixed = (name: string, r: PassdbResult, seen?: Array<string | undefined>): Passdb => ({
  name,
  lookup: async (req) => (seen?.push(req.password?.reveal()), r),
  close: async () => {},
});
const creds = (chain: ChainAuthenticator, user = 'alice') => chain.lookupCredentials(makeAuthRequest({ user, password: 'never-sent' }), 'CRAM-MD5');

describe('ChainAuthenticator.lookupCredentials', () => {
  it('the first passdb that can give the scheme; a crypt hash before it counts as a failure and the chain goes on', async () => {
    const seen: Array<string | undefined> = [];
    const chain = new ChainAuthenticator([
      { passdb: fixed('crypt', { kind: 'found', password: '{SHA512-CRYPT}$6$x$y', fields: { a: '1' } }, seen) },
      { passdb: fixed('plain', { kind: 'found', password: '{PLAIN}pw', fields: { b: '2' } }, seen) },
    ]);
    const c = await creds(chain);
    assert.ok(c.kind === 'ok');
    assert.equal(c.credentials, CRAM);
    assert.deepEqual(await c.complete(), { kind: 'ok', user: 'alice', fields: { b: '2' }, passwordVerified: true });
    assert.deepEqual(seen, [undefined, undefined], 'the client password is not handed to passdbs');
  });

  it('no passdb can: passwordMismatch; an unknown user stays unknown', async () => {
    assert.deepEqual(await creds(new ChainAuthenticator([{ passdb: fixed('crypt', { kind: 'found', password: '{SSHA}abcd', fields: {} }) }])), { kind: 'fail', reason: 'passwordMismatch', fields: {} });
    assert.deepEqual(await creds(new ChainAuthenticator([{ passdb: new MemoryPassdb({}) }])), { kind: 'fail', reason: 'userUnknown', fields: {} });
  });

  it('nopassword, a NULL password, a self-checking driver: nothing to hand over', async () => {
    for (const r of [{ kind: 'found', password: null, fields: { nopassword: 'y', proxy: 'y', host: 'h' } }, { kind: 'found', password: null, fields: {} }, { kind: 'ok', fields: {} }] as PassdbResult[]) {
      assert.equal((await creds(new ChainAuthenticator([{ passdb: fixed('x', r) }]))).kind, 'fail', JSON.stringify(r));
    }
  });

  it('broken stored data or a passdb down: a temporary failure', async () => {
    assert.equal((await creds(new ChainAuthenticator([{ passdb: fixed('bad', { kind: 'found', password: '{CRAM-MD5}zz', fields: {} }) }]))).kind, 'tempFail');
    assert.equal((await creds(new ChainAuthenticator([{ passdb: fixed('down', { kind: 'tempFail', reason: 'db down' }) }]))).kind, 'tempFail');
  });

  it('deny passdbs and result rules apply as for a password', async () => {
    const denied = new ChainAuthenticator([{ passdb: fixed('deny', { kind: 'found', password: null, fields: {} }), deny: true }, { passdb: fixed('plain', { kind: 'found', password: 'pw', fields: {} }) }]);
    assert.deepEqual(await creds(denied), { kind: 'fail', reason: 'userDisabled', fields: {} });
    const masterPassword = new ChainAuthenticator([
      { passdb: fixed('master-password', { kind: 'found', password: '{PLAIN}master', fields: {} }), resultSuccess: 'continue' },
      { passdb: fixed('users', { kind: 'found', password: '{SSHA}x', fields: { host: 'b' } }) },
    ]);
    const c = await creds(masterPassword);
    assert.ok(c.kind === 'ok' && c.credentials === cramMd5Context('master').toString('hex'));
    assert.deepEqual(await c.complete(), { kind: 'ok', user: 'alice', fields: { host: 'b' }, passwordVerified: true });
  });

  it('lookupUser: no password check, nopassword removed, fail and allow_nets still refuse', async () => {
    const chain = new ChainAuthenticator([{ passdb: new MemoryPassdb({ alice: { password: 'pw', fields: { nopassword: 'y', host: 'h' } }, gone: { password: 'x', fields: { fail: 'y' } } }) }]);
    assert.deepEqual(await chain.lookupUser(makeAuthRequest({ user: 'alice' })), { kind: 'ok', user: 'alice', fields: { host: 'h' }, passwordVerified: false });
    assert.equal((await chain.lookupUser(makeAuthRequest({ user: 'gone' }))).kind, 'fail');
  });
});
