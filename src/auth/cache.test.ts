import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthCache, type CachedAnswer } from './cache.js';
import { cacheKey, templateInputs } from './cache-key.js';
import { makeAuthRequest } from './testing.js';

const found = (password: string, fields: Record<string, string> = {}): CachedAnswer => ({ kind: 'found', password, fields, selfChecked: false });

function clock(start = 1_000_000) {
  let t = start;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

describe('AuthCache', () => {
  it('returns what was stored, as a copy', () => {
    const c = new AuthCache({ maxBytes: 10_000, ttlMs: 1000, negativeTtlMs: 1000 });
    c.set('k', 'alice', found('{PLAIN}x', { host: 'a' }));
    const got = c.get('k');
    assert.deepEqual(got, found('{PLAIN}x', { host: 'a' }));
    if (got?.kind === 'found') got.fields.host = 'changed';
    assert.deepEqual(c.get('k'), found('{PLAIN}x', { host: 'a' }), 'callers cannot change the entry');
    assert.deepEqual(c.stats().hits, 2);
  });

  it('expires positive entries after ttl and negative ones after negative_ttl', () => {
    const t = clock();
    const c = new AuthCache({ maxBytes: 10_000, ttlMs: 60_000, negativeTtlMs: 10_000, now: t.now });
    c.set('pos', 'a', found('{PLAIN}x'));
    c.set('neg', 'b', { kind: 'userUnknown' });
    t.advance(9_999);
    assert.ok(c.get('pos') && c.get('neg'));
    t.advance(1);
    assert.equal(c.get('neg'), undefined, 'negative entry gone at negative_ttl');
    assert.ok(c.get('pos'));
    t.advance(50_000);
    assert.equal(c.get('pos'), undefined, 'positive entry gone at ttl');
    assert.equal(c.stats().entries, 0, 'expired entries are dropped');
  });

  it('keeps no negative entries with negative_ttl 0, and nothing at all with size 0', () => {
    const c = new AuthCache({ maxBytes: 10_000, ttlMs: 1000, negativeTtlMs: 0 });
    c.set('neg', 'b', { kind: 'userUnknown' });
    assert.equal(c.get('neg'), undefined);
    const off = new AuthCache({ maxBytes: 0, ttlMs: 1000, negativeTtlMs: 1000 });
    assert.equal(off.enabled, false);
    off.set('k', 'a', found('{PLAIN}x'));
    assert.equal(off.stats().entries, 0);
  });

  it('stays within its size, dropping the least recently used first', () => {
    const c = new AuthCache({ maxBytes: 2_000, ttlMs: 1000, negativeTtlMs: 1000 });
    for (let i = 0; i < 5; i++) c.set(`k${i}`, `u${i}`, found(`{PLAIN}${'x'.repeat(200)}`));
    c.get('k2'); // recently used: survives the next inserts
    for (let i = 5; i < 200; i++) {
      c.set(`k${i}`, `u${i}`, found(`{PLAIN}${'x'.repeat(200)}`));
      assert.ok(c.stats().bytes <= 2_000, `bytes ${c.stats().bytes} over the limit`);
      if (i === 6) assert.ok(c.get('k2'), 'the recently used entry outlived older ones');
    }
    assert.equal(c.get('k0'), undefined);
    assert.ok(c.stats().entries >= 3 && c.stats().entries <= 6, `${c.stats().entries} entries`);
  });

  it('does not keep an entry bigger than the whole cache (a 300 KB user name)', () => {
    const c = new AuthCache({ maxBytes: 10_000, ttlMs: 1000, negativeTtlMs: 1000 });
    c.set('small', 'a', found('{PLAIN}x'));
    c.set('huge', 'x'.repeat(300_000), { kind: 'userUnknown' });
    assert.equal(c.get('huge'), undefined);
    assert.ok(c.get('small'), 'the rest of the cache is left alone');
  });

  it('flushes everything, or one user\'s entries', () => {
    const c = new AuthCache({ maxBytes: 10_000, ttlMs: 1000, negativeTtlMs: 1000 });
    c.set('a1', 'alice', found('{PLAIN}x'));
    c.set('a2', 'alice', { kind: 'userUnknown' });
    c.set('b1', 'bob', found('{PLAIN}y'));
    assert.equal(c.flush(['alice']), 2);
    assert.ok(c.get('b1'));
    assert.equal(c.flush(), 1);
    assert.deepEqual([c.stats().entries, c.stats().bytes], [0, 0]);
  });
});

describe('cache keys', () => {
  it('always hold the user and service, plus what the templates read', () => {
    assert.deepEqual(templateInputs(['/etc/passwd %u']).sort(), ['service', 'user']);
    assert.deepEqual(templateInputs(["SELECT * FROM u WHERE name = '%n' AND ip = '%{rip}' AND pw = '%w'"]).sort(), ['password', 'remoteIp', 'service', 'user']);
    assert.deepEqual(templateInputs(['host=%{passdb:host} %{env:HOME} %{hostname} %Lr %3.2l %{lport}']).sort(), ['localIp', 'localPort', 'remoteIp', 'service', 'user']);
  });

  it('differ when an input differs, and never contain the password', () => {
    const inputs = templateInputs(['%u %s %r %w']);
    const base = makeAuthRequest({ password: 'hunter2' });
    const k = cacheKey('P0', inputs, base);
    assert.equal(cacheKey('P0', inputs, makeAuthRequest({ password: 'hunter2' })), k);
    for (const other of [{ user: 'bob' }, { service: 'pop3' }, { remoteIp: '192.0.2.99' }, { password: 'other' }]) {
      assert.notEqual(cacheKey('P0', inputs, makeAuthRequest({ password: 'hunter2', ...other })), k, JSON.stringify(other));
    }
    assert.notEqual(cacheKey('P1', inputs, base), k, 'another passdb, another key');
    assert.ok(!k.includes('hunter2'));
    // Inputs no template reads do not split the cache.
    assert.equal(cacheKey('P0', templateInputs(['%u']), makeAuthRequest({ remoteIp: '192.0.2.99' })), cacheKey('P0', templateInputs(['%u']), base));
  });
});
