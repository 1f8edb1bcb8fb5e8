import assert from 'node:assert/strict';
import { mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ChainAuthenticator } from './authenticator.js';
import { AuthCache, type CachedAnswer } from './cache.js';
import { withCache } from './cached-passdb.js';
import { passdbSpecSchema } from './config.js';
import { createPassdb } from './passdb/registry.js';
import { makeAuthRequest } from './testing.js';
import type { Passdb, PassdbResult } from './types.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

/** Counts the lookups that reach the real passdb. */
function counting(inner: Passdb): Passdb & { calls: number } {
  const p = {
    name: inner.name,
    cacheKey: inner.cacheKey,
    calls: 0,
    lookup: (req: Parameters<Passdb['lookup']>[0]) => {
      p.calls++;
      return inner.lookup(req);
    },
    close: () => inner.close(),
  };
  return p;
}

describe('auth cache in front of a passwd-file', () => {
  let dir: string;
  let file: string;
  let stamp = 1_700_000_000;
  const write = async (lines: string[]) => {
    await writeFile(file, `${lines.join('\n')}\n`);
    stamp += 10; // a new mtime each time, so the driver sees every rewrite
    await utimes(file, stamp, stamp);
  };
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'postern-cache-'));
    file = join(dir, 'users');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const setup = (opts: { ttlMs?: number; negativeTtlMs?: number } = {}) => {
    const t = clock();
    const cache = new AuthCache({ maxBytes: 1 << 20, ttlMs: opts.ttlMs ?? 3_600_000, negativeTtlMs: opts.negativeTtlMs ?? 3_600_000, now: t.now });
    const inner = counting(createPassdb(passdbSpecSchema.parse({ driver: 'passwd-file', args: file }), {}));
    const auth = new ChainAuthenticator([{ passdb: withCache(inner, cache) }]);
    const login = async (user: string, password: string) => (await auth.authenticate(makeAuthRequest({ user, password }))).kind;
    return { t, cache, inner, login, auth };
  };

  it('answers a repeated login from the cache', async () => {
    await write(['alice:{PLAIN}old-pw::::::proxy=y host=10.0.0.1']);
    const { inner, auth } = setup();
    const first = await auth.authenticate(makeAuthRequest({ user: 'alice', password: 'old-pw' }));
    const second = await auth.authenticate(makeAuthRequest({ user: 'alice', password: 'old-pw' }));
    assert.deepEqual(second, first);
    assert.deepEqual(second, { kind: 'ok', user: 'alice', fields: { proxy: 'y', host: '10.0.0.1' }, passwordVerified: true });
    assert.equal(inner.calls, 1);
  });

  it('lets a changed password in at once, and the old one no more once the new one was seen', async () => {
    await write(['alice:{PLAIN}old-pw']);
    const { inner, login } = setup();
    assert.equal(await login('alice', 'old-pw'), 'ok');
    await write(['alice:{PLAIN}new-password']);
    assert.equal(await login('alice', 'new-password'), 'ok', 'the mismatch against the cached hash asked the passdb again');
    assert.equal(inner.calls, 2);
    assert.equal(await login('alice', 'old-pw'), 'fail', 'the cache now holds the new hash');
    assert.equal(await login('alice', 'new-password'), 'ok');
  });

  it('never accepts a wrong password from the cache, and asks the passdb each time', async () => {
    await write(['alice:{PLAIN}right']);
    const { inner, login } = setup();
    assert.equal(await login('alice', 'right'), 'ok');
    assert.equal(await login('alice', 'wrong'), 'fail');
    assert.equal(await login('alice', 'wrong'), 'fail');
    assert.equal(inner.calls, 3);
    assert.equal(await login('alice', 'right'), 'ok');
    assert.equal(inner.calls, 3, 'the entry survived the failures');
  });

  it('caches unknown users for negative_ttl, then asks again', async () => {
    await write(['alice:{PLAIN}a']);
    const { t, inner, login } = setup({ negativeTtlMs: 60_000 });
    assert.equal(await login('bob', 'b'), 'fail');
    await write(['alice:{PLAIN}a', 'bob:{PLAIN}b']);
    assert.equal(await login('bob', 'b'), 'fail', 'still the cached "unknown user"');
    assert.equal(inner.calls, 1);
    t.advance(60_000);
    assert.equal(await login('bob', 'b'), 'ok');
    assert.equal(inner.calls, 2);
  });

  it('forgets positive entries after ttl (the injected clock, no sleeping)', async () => {
    await write(['alice:{PLAIN}old-pw']);
    const { t, inner, login } = setup({ ttlMs: 30_000 });
    assert.equal(await login('alice', 'old-pw'), 'ok');
    await write(['alice:{PLAIN}new-password']);
    t.advance(29_999);
    assert.equal(await login('alice', 'old-pw'), 'ok', 'within ttl the old password is still the cached one (as Dovecot)');
    t.advance(1);
    assert.equal(await login('alice', 'old-pw'), 'fail', 'after ttl the passdb is asked');
    assert.equal(inner.calls, 2);
  });

  it('never caches a temporary failure', async () => {
    const { inner, login, cache } = setup();
    await rm(file, { force: true });
    assert.equal(await login('alice', 'a'), 'tempFail');
    assert.equal(cache.stats().entries, 0);
    await write(['alice:{PLAIN}a']);
    assert.equal(await login('alice', 'a'), 'ok');
    assert.equal(inner.calls, 2);
  });

  it('flushing empties it: the next login asks the passdb', async () => {
    await write(['alice:{PLAIN}a']);
    const { inner, login, cache } = setup();
    await login('alice', 'a');
    assert.equal(cache.flush(), 1);
    await login('alice', 'a');
    assert.equal(inner.calls, 2);
  });

  it('gives the cached answer to a lookup without a password, fields and hash', async () => {
    await write(['alice:{PLAIN}a::::::host=h']);
    const { inner, cache } = setup();
    const p = withCache(inner, cache);
    const req = makeAuthRequest({ user: 'alice' });
    const first = await p.lookup(req);
    assert.deepEqual(await p.lookup(req), first);
    assert.deepEqual(first, { kind: 'found', password: '{PLAIN}a', fields: { host: 'h' } });
  });
});

describe('auth cache and self-checking drivers', () => {
  const selfChecking = (good: string): Passdb & { calls: number } => {
    const p = {
      name: 'remote',
      cacheKey: 'host=%d',
      calls: 0,
      async lookup(req: Parameters<Passdb['lookup']>[0]): Promise<PassdbResult> {
        p.calls++;
        if (req.password === undefined) return { kind: 'tempFail', reason: 'needs a password' };
        return req.password.reveal() === good ? { kind: 'ok', fields: { x: 'y' } } : { kind: 'passwordMismatch' };
      },
      close: async () => {},
    };
    return p;
  };

  it('keeps a salted hash of the accepted password, never the password', async () => {
    const stored: CachedAnswer[] = [];
    const cache = new (class extends AuthCache {
      override set(key: string, user: string, answer: CachedAnswer): void {
        stored.push(answer);
        super.set(key, user, answer);
      }
    })({ maxBytes: 1 << 20, ttlMs: 60_000, negativeTtlMs: 60_000 });
    const inner = selfChecking('s3cret-pw');
    const p = withCache(inner, cache);
    const req = (password?: string) => makeAuthRequest({ user: 'alice', ...(password !== undefined ? { password } : {}) });
    assert.deepEqual(await p.lookup(req('s3cret-pw')), { kind: 'ok', fields: { x: 'y' } });
    assert.deepEqual(await p.lookup(req('s3cret-pw')), { kind: 'ok', fields: { x: 'y' } });
    assert.equal(inner.calls, 1);
    assert.deepEqual(await p.lookup(req('guess')), { kind: 'passwordMismatch' });
    assert.equal(inner.calls, 2, 'a wrong password goes to the remote server');
    assert.equal((await p.lookup(req())).kind, 'tempFail', 'a lookup without a password is not answered from the hash');
    assert.equal(stored.length, 1);
    const entry = stored[0]!;
    assert.ok(entry.kind === 'found' && entry.selfChecked && entry.password?.startsWith('{SSHA512}'), JSON.stringify(entry));
    assert.doesNotMatch(JSON.stringify(stored), /s3cret/, 'the cache holds a salted hash, never the password');
  });

  it('is not used for passdbs that do not say what their answer depends on', async () => {
    const cache = new AuthCache({ maxBytes: 1 << 20, ttlMs: 60_000, negativeTtlMs: 60_000 });
    const inner: Passdb = { name: 'memory', lookup: async () => ({ kind: 'userUnknown' }), close: async () => {} };
    assert.equal(withCache(inner, cache), inner);
  });
});
