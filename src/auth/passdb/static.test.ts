import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { passdbSpecSchema } from '../config.js';
import { makeAuthRequest } from '../testing.js';
import type { PassdbResult } from '../types.js';
import { createPassdb } from './registry.js';

const lookup = (args: string, user = 'alice@example.com'): Promise<PassdbResult> =>
  createPassdb(passdbSpecSchema.parse({ driver: 'static', args }), {}).lookup(makeAuthRequest({ user, password: 'pw' }));

describe('static passdb', () => {
  const table: ReadonlyArray<[args: string, want: PassdbResult]> = [
    ['password=test', { kind: 'found', password: '{PLAIN}test', fields: {} }],
    ['password={SHA512-CRYPT}$6$abc$def', { kind: 'found', password: '{SHA512-CRYPT}$6$abc$def', fields: {} }],
    ['nopassword=y proxy=y host=%d.mail', { kind: 'found', password: null, fields: { nopassword: 'y', proxy: 'y', host: 'example.com.mail' } }],
    ['proxy=y host=10.0.0.5', { kind: 'found', password: null, fields: { proxy: 'y', host: '10.0.0.5' } }],
    ['', { kind: 'found', password: null, fields: {} }],
    ['password=%n-pw', { kind: 'found', password: '{PLAIN}alice-pw', fields: {} }],
    ['password=', { kind: 'found', password: '{PLAIN}', fields: {} }],
  ];
  for (const [args, want] of table) {
    it(`args ${JSON.stringify(args)}`, async () => assert.deepEqual(await lookup(args), want));
  }

  it('finds every user', async () => {
    for (const user of ['x', '', 'a:b', 'ünï@cödé']) assert.equal((await lookup('password=x', user)).kind, 'found');
  });

  it('unknown variables are a temporary failure and never echo the password template', async () => {
    const r = await lookup('password=s3cr3t%{nosuch}');
    assert.equal(r.kind, 'tempFail');
    assert.ok(r.kind === 'tempFail' && !r.reason.includes('s3cr3t'));
  });

  it('rejects malformed args at creation', () => {
    assert.throws(() => createPassdb(passdbSpecSchema.parse({ driver: 'static', args: '=x' }), {}), { code: 'AUTH_CONFIG' });
  });

  it('its name never shows the args (they may hold a password)', () => {
    const db = createPassdb(passdbSpecSchema.parse({ driver: 'static', args: 'password=s3cr3t' }), {});
    assert.ok(!db.name.includes('s3cr3t'));
  });
});
