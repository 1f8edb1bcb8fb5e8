// `passwordVerified` on a success: whether a passdb really compared the password. The auth
// service (Postfix/Exim SASL) refuses successes without it; see docs/auth-service.md.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ChainAuthenticator, type ChainEntry } from './authenticator.js';
import { makeAuthRequest } from './testing.js';
import type { Passdb, PassdbResult } from './types.js';

const fixed = (r: PassdbResult): Passdb => ({ name: 'fixed', lookup: async () => r, close: async () => {} });
const found = (password: string | null, fields: Record<string, string> = {}): Passdb => fixed({ kind: 'found', password, fields });

/** The verdict for a chain: 'verified', 'unverified' or the failure kind. */
async function verdict(entries: Array<ChainEntry | Passdb>, password = 'right'): Promise<string> {
  const a = new ChainAuthenticator(entries.map((e) => ('passdb' in e ? e : { passdb: e })));
  const r = await a.authenticate(makeAuthRequest({ password }));
  if (r.kind !== 'ok') return r.kind;
  return r.passwordVerified ? 'verified' : 'unverified';
}

describe('passwordVerified: one passdb', () => {
  const table: ReadonlyArray<{ name: string; db: Passdb; password?: string; want: string }> = [
    { name: 'the stored password matched', db: found('{PLAIN}right'), want: 'verified' },
    { name: 'a PLAIN-MD5 hash matched', db: found('{PLAIN-MD5}7c4f29407893c334a6cb7a87bf045c0d'), want: 'verified' },
    { name: 'a PLAIN-MD5 hash did not', db: found('{PLAIN-MD5}7c4f29407893c334a6cb7a87bf045c0d'), password: 'wrong', want: 'fail' },
    { name: 'nopassword', db: found(null, { nopassword: 'y' }), password: 'anything', want: 'unverified' },
    { name: 'nopassword with an empty {PLAIN}', db: found('{PLAIN}', { nopassword: 'y' }), password: 'anything', want: 'unverified' },
    { name: 'NULL password with proxy (the backend would check)', db: found(null, { proxy: 'y', host: 'b' }), password: 'anything', want: 'unverified' },
    { name: 'NULL password with proxy_maybe', db: found(null, { proxy_maybe: 'y' }), password: 'anything', want: 'unverified' },
    { name: 'a real password beats nopassword, and is checked', db: found('{PLAIN}right', { nopassword: 'y', proxy: 'y' }), want: 'verified' },
    { name: 'a self-checking driver (LDAP bind, imap) said ok', db: fixed({ kind: 'ok', fields: { proxy: 'y' } }), want: 'verified' },
  ];
  for (const c of table) it(c.name, async () => assert.equal(await verdict([c.db], c.password), c.want));
});

describe('passwordVerified: chains', () => {
  it('a wrong password in the first passdb, nopassword in the second: unverified', async () => {
    assert.equal(await verdict([found('{PLAIN}other'), found(null, { nopassword: 'y', proxy: 'y' })]), 'unverified');
  });
  it('unknown in the first, checked in the second: verified', async () => {
    assert.equal(await verdict([fixed({ kind: 'userUnknown' }), found('{PLAIN}right')]), 'verified');
  });
  it('continue-ok after nopassword: the later passdb skips its check, so still unverified', async () => {
    // Dovecot's skip_password_check: this is the chain that "fails open" for Postfix SASL there.
    const chain: ChainEntry[] = [{ passdb: found(null, { nopassword: 'y' }), resultSuccess: 'continue-ok' }, { passdb: found('{PLAIN}right') }];
    assert.equal(await verdict(chain, 'wrong'), 'unverified');
    assert.equal(await verdict(chain, 'right'), 'unverified');
  });
  it('continue-ok after a checked password: later passdbs add fields, still verified', async () => {
    const chain: ChainEntry[] = [{ passdb: found('{PLAIN}right'), resultSuccess: 'continue-ok' }, { passdb: found(null, { nopassword: 'y', host: 'h' }) }];
    assert.equal(await verdict(chain), 'verified');
    assert.equal(await verdict(chain, 'wrong'), 'unverified'); // the first failed; only nopassword accepted
  });
  it('a deny passdb never makes a success verified', async () => {
    const chain: ChainEntry[] = [{ passdb: fixed({ kind: 'userUnknown' }), deny: true }, { passdb: found(null, { nopassword: 'y' }) }];
    assert.equal(await verdict(chain, 'x'), 'unverified');
  });
  it('a temporary failure before a nopassword success: an unverified success', async () => {
    assert.equal(await verdict([fixed({ kind: 'tempFail', reason: 'down' }), found(null, { nopassword: 'y' })], 'x'), 'unverified');
  });
});
