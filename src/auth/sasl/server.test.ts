import { before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ChainAuthenticator, MemoryAuthenticator, MemoryPassdb, MasterUserAuthenticator, hashPassword, makeAuthRequest, type AuthResult, type Authenticator } from '../index.js';
import { plainClientResponse, SaslServer, getMechanism, xoauth2ClientResponse, type SaslOutcome, type SaslRequestBase } from './index.js';
import { cramMd5Response, scramClient } from './test-clients.js';

// The runner over the real chain (MemoryAuthenticator): what each mechanism asks of the passdbs.

const { mech: _m, user: _u, ...BASE } = makeAuthRequest();
const base: SaslRequestBase = BASE;

async function run(auth: Authenticator, mech: string, responses: Array<(challenge: Buffer) => Buffer | null>, ctx = {}): Promise<{ out: SaslOutcome; challenges: Buffer[] }> {
  const sasl = new SaslServer(getMechanism(mech)!, auth, base, ctx);
  const challenges: Buffer[] = [];
  let out = await sasl.step(null);
  for (const respond of responses) {
    if (out.kind !== 'challenge') break;
    challenges.push(out.data);
    out = await sasl.step(respond(out.data));
  }
  return { out, challenges };
}

const result = (out: SaslOutcome): AuthResult | string => (out.kind === 'done' ? out.result : out.kind);

describe('SaslServer over the passdb chain', () => {
  let auth: Authenticator;
  before(async () => {
    auth = new MemoryAuthenticator({
      plain: { password: 'pw', fields: { host: 'b1' } },
      crammed: { password: `{CRAM-MD5}${await hashPassword('CRAM-MD5', 'pw', 'crammed')}` },
      scrammed: { password: `{SCRAM-SHA-256}${await hashPassword('SCRAM-SHA-256', 'pw', 'scrammed')}` },
      hashed: { password: `{SHA512-CRYPT}${await hashPassword('SHA512-CRYPT', 'pw', 'hashed')}` },
      proxied: { password: null, fields: { nopassword: 'y', proxy: 'y', host: 'b2', proxy_mech: 'xoauth2' } },
    });
  });

  it('PLAIN: one plaintext check; the request carries the password to forward', async () => {
    const { out } = await run(auth, 'PLAIN', [() => plainClientResponse('plain', 'pw')]);
    assert.ok(out.kind === 'done');
    assert.equal(out.request.password?.reveal(), 'pw');
    assert.deepEqual(out.result, { kind: 'ok', user: 'plain', fields: { host: 'b1' }, passwordVerified: true });
  });

  it('CRAM-MD5 from a plaintext password and from a stored {CRAM-MD5}; a crypt hash cannot', async () => {
    for (const user of ['plain', 'crammed']) {
      const { out } = await run(auth, 'CRAM-MD5', [(c) => cramMd5Response(user, 'pw', c)]);
      assert.equal((result(out) as AuthResult).kind, 'ok', user);
      assert.ok(out.kind === 'done' && out.request.password === undefined && out.request.mech === 'CRAM-MD5');
    }
    assert.deepEqual(result((await run(auth, 'CRAM-MD5', [(c) => cramMd5Response('crammed', 'wrong', c)])).out), { kind: 'fail', reason: 'passwordMismatch', fields: {} });
    assert.deepEqual(result((await run(auth, 'CRAM-MD5', [(c) => cramMd5Response('hashed', 'pw', c)])).out), { kind: 'fail', reason: 'passwordMismatch', fields: {} });
    assert.deepEqual(result((await run(auth, 'CRAM-MD5', [(c) => cramMd5Response('nobody', 'pw', c)])).out), { kind: 'fail', reason: 'userUnknown', fields: {} });
  });

  for (const [mech, hash] of [['SCRAM-SHA-1', 'sha1'], ['SCRAM-SHA-256', 'sha256']] as const) {
    it(`${mech}: whole exchanges; the verifier is owed to the client`, async () => {
      for (const user of mech === 'SCRAM-SHA-256' ? ['plain', 'scrammed'] : ['plain']) {
        const client = scramClient(hash, user, 'pw', 'cn0nce');
        const { out } = await run(auth, mech, [() => client.first(), (sf) => client.final(sf)]);
        assert.ok(out.kind === 'done' && out.result.kind === 'ok', user);
        assert.equal(out.data?.toString(), client.expectedVerifier());
        assert.equal(out.result.passwordVerified, true);
      }
      const wrong = scramClient(hash, 'plain', 'nope', 'cn0nce');
      assert.equal((result((await run(auth, mech, [() => wrong.first(), (sf) => wrong.final(sf)])).out) as AuthResult).kind, 'fail');
    });
  }

  it('SCRAM: an unknown user gets a server-first message like anyone, and fails only at the end', async () => {
    const ghost = scramClient('sha256', 'nobody', 'pw', 'abc');
    const { out, challenges } = await run(auth, 'SCRAM-SHA-256', [() => ghost.first(), (sf) => ghost.final(sf)]);
    assert.match(challenges[1]!.toString(), /^r=abc[^,]+,s=[^,]+,i=4096$/);
    assert.deepEqual(result(out), { kind: 'fail', reason: 'userUnknown', fields: {} });
    // The stand-in salt is stable per name, as a real one is.
    const again = (await run(auth, 'SCRAM-SHA-256', [() => ghost.first()])).out;
    assert.ok(again.kind === 'challenge');
    assert.equal(again.data.toString().split(',')[1], challenges[1]!.toString().split(',')[1]);
  });

  it('SCRAM from a crypt hash: scheme not available, after the same stand-in exchange', async () => {
    const c = scramClient('sha1', 'hashed', 'pw', 'abc');
    assert.deepEqual(result((await run(auth, 'SCRAM-SHA-1', [() => c.first(), (sf) => c.final(sf)])).out), { kind: 'fail', reason: 'passwordMismatch', fields: {} });
  });

  it('XOAUTH2 through a forwarding passdb: accepted unverified, the token becomes the password to forward', async () => {
    const { out } = await run(auth, 'XOAUTH2', [() => xoauth2ClientResponse('proxied', 'ya29.token')]);
    assert.ok(out.kind === 'done' && out.result.kind === 'ok');
    assert.equal(out.result.passwordVerified, false);
    assert.equal(out.request.password?.reveal(), 'ya29.token');
    assert.equal(out.result.fields['proxy_mech'], 'xoauth2');
  });

  it('XOAUTH2 refused: the JSON error comes with the failure', async () => {
    const { out } = await run(auth, 'XOAUTH2', [() => xoauth2ClientResponse('plain', 'not-the-password')]);
    assert.ok(out.kind === 'done' && out.result.kind === 'fail');
    assert.equal(JSON.parse(out.data!.toString()).status, '401');
  });

  it('EXTERNAL: the certificate user is looked up without a password; unknown users fail', async () => {
    const { out } = await run(auth, 'EXTERNAL', [() => Buffer.alloc(0)], { certUsername: 'hashed' });
    assert.ok(out.kind === 'done' && out.result.kind === 'ok' && out.result.user === 'hashed' && !out.result.passwordVerified);
    assert.equal((result((await run(auth, 'EXTERNAL', [() => Buffer.alloc(0)], { certUsername: 'nobody' })).out) as AuthResult).kind, 'fail');
  });

  it('an authorization identity without master passdbs: authzFailed, never a login as either user', async () => {
    assert.deepEqual(result((await run(auth, 'PLAIN', [() => plainClientResponse('plain', 'pw', 'crammed')])).out), { kind: 'fail', reason: 'authzFailed', fields: {} });
    const c = scramClient('sha1', 'plain', 'pw', 'n', 'crammed');
    assert.equal((result((await run(auth, 'SCRAM-SHA-1', [() => c.first(), (sf) => c.final(sf)])).out) as AuthResult & { reason?: string }).reason, 'authzFailed');
  });

  it('malformed input is invalid, with no passdb asked', async () => {
    let asked = 0;
    const counting: Authenticator = { authenticate: async (r) => (asked++, auth.authenticate(r)), close: async () => {} };
    assert.equal((await run(counting, 'PLAIN', [() => Buffer.from('no-nuls')])).out.kind, 'invalid');
    assert.equal(asked, 0);
  });

  it('an authenticator without credential lookups: a temporary failure, not a crash', async () => {
    const bare: Authenticator = { authenticate: (r) => auth.authenticate(r), close: async () => {} };
    assert.equal((result((await run(bare, 'CRAM-MD5', [(c) => cramMd5Response('plain', 'pw', c)])).out) as AuthResult).kind, 'tempFail');
  });
});

describe('SaslServer with master users', () => {
  const normal = new ChainAuthenticator([{ passdb: new MemoryPassdb({ alice: { password: 'alice-pw', fields: { proxy: 'y', host: 'b1' } } }) }]);
  const masters = new ChainAuthenticator([{ passdb: new MemoryPassdb({ admin: { password: 'admin-pw' } }) }]);
  const auth = new MasterUserAuthenticator(normal, masters, '*');

  it('SCRAM as admin for alice: the master proves, alice logs in, the master goes to the backend', async () => {
    const c = scramClient('sha256', 'admin', 'admin-pw', 'n', 'alice');
    const { out } = await run(auth, 'SCRAM-SHA-256', [() => c.first(), (sf) => c.final(sf)]);
    assert.ok(out.kind === 'done');
    assert.deepEqual(out.result, { kind: 'ok', user: 'alice', fields: { proxy: 'y', host: 'b1', master: 'admin' }, passwordVerified: true });
  });

  it('CRAM-MD5 with alice*admin; a wrong master password fails before alice is looked up', async () => {
    assert.equal((result((await run(auth, 'CRAM-MD5', [(c) => cramMd5Response('alice*admin', 'admin-pw', c)])).out) as AuthResult).kind, 'ok');
    assert.deepEqual(result((await run(auth, 'CRAM-MD5', [(c) => cramMd5Response('ghost*admin', 'bad', c)])).out), { kind: 'fail', reason: 'passwordMismatch', fields: {} });
    assert.deepEqual(result((await run(auth, 'CRAM-MD5', [(c) => cramMd5Response('ghost*admin', 'admin-pw', c)])).out), { kind: 'fail', reason: 'authzFailed', fields: {} });
  });
});
