import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChainAuthenticator } from './authenticator.js';
import { MasterUserAuthenticator, splitMasterLogin } from './master.js';
import { MemoryPassdb } from './memory.js';
import { makeAuthRequest } from './testing.js';

describe('splitMasterLogin', () => {
  const table: Array<[string, { user: string; authzid?: string }, string, ReturnType<typeof splitMasterLogin>]> = [
    ['a normal login', { user: 'alice' }, '*', undefined],
    ['authzid', { user: 'admin', authzid: 'alice' }, '', { login: 'alice', master: 'admin' }],
    ['authzid equal to the user is none', { user: 'alice', authzid: 'alice' }, '*', undefined],
    ['separator', { user: 'alice*admin' }, '*', { login: 'alice', master: 'admin' }],
    ['first separator splits (as Dovecot strchr)', { user: 'alice*ad*min' }, '*', { login: 'alice', master: 'ad*min' }],
    ['no separator configured: a literal name', { user: 'alice*admin' }, '', undefined],
    ['both ways at once', { user: 'alice*admin', authzid: 'bob' }, '*', { error: 'both an authorization identity and a master user separator' }],
    ['empty login', { user: '*admin' }, '*', { error: 'an empty login or master user name around the separator' }],
    ['empty master', { user: 'alice*' }, '*', { error: 'an empty login or master user name around the separator' }],
  ];
  for (const [name, req, sep, want] of table) it(name, () => assert.deepEqual(splitMasterLogin(req, sep), want));
});

describe('MasterUserAuthenticator', () => {
  const normal = new ChainAuthenticator([
    {
      passdb: new MemoryPassdb({
        alice: { password: 'alice-pw', fields: { proxy: 'y', host: 'backend1' } },
        bob: { password: 'bob-pw', fields: { proxy: 'y', host: 'backend2', master: 'backend-admin', pass: 'x' } },
        local: { password: 'local-pw' },
        'a*b': { password: 'star-pw' },
      }),
    },
  ]);
  const masters = new ChainAuthenticator([{ passdb: new MemoryPassdb({ admin: { password: 'admin-pw', fields: { nodelay: 'y' } } }) }]);
  const auth = new MasterUserAuthenticator(normal, masters, '*');
  const login = (user: string, password: string, authzid?: string) => auth.authenticate(makeAuthRequest({ user, password, ...(authzid ? { authzid } : {}) }));

  it('user*master with the master password: the session is the user, the master goes to the backend', async () => {
    assert.deepEqual(await login('alice*admin', 'admin-pw'), { kind: 'ok', user: 'alice', fields: { nodelay: 'y', proxy: 'y', host: 'backend1', master: 'admin' }, passwordVerified: true });
  });

  it('the same through the SASL authorization identity', async () => {
    assert.deepEqual(await login('admin', 'admin-pw', 'alice'), { kind: 'ok', user: 'alice', fields: { nodelay: 'y', proxy: 'y', host: 'backend1', master: 'admin' }, passwordVerified: true });
  });

  it("a passdb's own master field wins; no master field when not proxied", async () => {
    assert.equal(((await login('bob*admin', 'admin-pw')) as { fields: Record<string, string> }).fields['master'], 'backend-admin');
    assert.equal(((await login('local*admin', 'admin-pw')) as { fields: Record<string, string> }).fields['master'], undefined);
  });

  it("the user's password is not the master's; a wrong or unknown master is an authentication failure", async () => {
    assert.deepEqual(await login('alice*admin', 'alice-pw'), { kind: 'fail', reason: 'passwordMismatch', fields: {} });
    assert.deepEqual(await login('alice*nobody', 'x'), { kind: 'fail', reason: 'userUnknown', fields: {} });
  });

  it('a proven master naming an unknown user: authzFailed', async () => {
    assert.deepEqual(await login('ghost*admin', 'admin-pw'), { kind: 'fail', reason: 'authzFailed', fields: {} });
    assert.deepEqual(await login('admin', 'admin-pw', 'ghost'), { kind: 'fail', reason: 'authzFailed', fields: {} });
  });

  it('masters cannot log in as themselves; normal users are untouched', async () => {
    assert.equal((await login('admin', 'admin-pw')).kind, 'fail');
    assert.equal((await login('alice', 'alice-pw')).kind, 'ok');
  });

  it('both ways at once, or empty names: authzFailed', async () => {
    assert.deepEqual(await login('alice*admin', 'admin-pw', 'bob'), { kind: 'fail', reason: 'authzFailed', fields: {} });
    assert.deepEqual(await login('*admin', 'admin-pw'), { kind: 'fail', reason: 'authzFailed', fields: {} });
  });

  it('credentials come from the master chain; complete() looks the login user up', async () => {
    const c = await auth.lookupCredentials(makeAuthRequest({ user: 'alice*admin' }), 'CRAM-MD5');
    assert.equal(c.kind, 'ok');
    if (c.kind !== 'ok') return;
    assert.deepEqual(await c.complete(), { kind: 'ok', user: 'alice', fields: { nodelay: 'y', proxy: 'y', host: 'backend1', master: 'admin' }, passwordVerified: true });
  });

  it('EXTERNAL-style lookups: a certificate user with an authzid is a master login', async () => {
    assert.equal(((await auth.lookupUser(makeAuthRequest({ user: 'admin', authzid: 'alice' }))) as { user: string }).user, 'alice');
    assert.equal((await auth.lookupUser(makeAuthRequest({ user: 'alice' }))).kind, 'ok');
  });
});
