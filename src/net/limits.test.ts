import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectionLimits, InProcessCounter, type CountKey } from './limits.js';

const total: CountKey = { limit: 'total' };
const addr = (ip: string): CountKey => ({ limit: 'address', ip });
const userip = (user: string, ip: string, protocol: 'imap' | 'pop3' = 'imap'): CountKey => ({ limit: 'userip', protocol, user, ip });

test('counter: up to max, refused past it, a place freed is a place again', () => {
  const c = new InProcessCounter();
  const leases = [];
  for (let i = 0; i < 3; i++) {
    const r = c.acquire([{ key: userip('alice', '192.0.2.1'), max: 3 }]);
    assert.equal(r.kind, 'granted');
    if (r.kind === 'granted') leases.push(r.lease);
  }
  assert.deepEqual(c.acquire([{ key: userip('alice', '192.0.2.1'), max: 3 }]), { kind: 'refused', key: userip('alice', '192.0.2.1'), max: 3 });
  // Another user, another address, another protocol: each its own count.
  assert.equal(c.acquire([{ key: userip('bob', '192.0.2.1'), max: 3 }]).kind, 'granted');
  assert.equal(c.acquire([{ key: userip('alice', '192.0.2.2'), max: 3 }]).kind, 'granted');
  assert.equal(c.acquire([{ key: userip('alice', '192.0.2.1', 'pop3'), max: 3 }]).kind, 'granted');
  leases[0]!.release();
  assert.equal(c.acquire([{ key: userip('alice', '192.0.2.1'), max: 3 }]).kind, 'granted');
});

test('counter: release is idempotent and a count never goes below zero', () => {
  const c = new InProcessCounter();
  const a = c.acquire([{ key: total, max: 2 }, { key: addr('192.0.2.9'), max: 2 }]);
  const b = c.acquire([{ key: total, max: 2 }, { key: addr('192.0.2.9'), max: 2 }]);
  assert.ok(a.kind === 'granted' && b.kind === 'granted');
  assert.equal(c.count(total), 2);
  a.lease.release();
  a.lease.release();
  a.lease.release();
  assert.equal(c.count(total), 1, 'a second release of the same lease gave back nothing');
  assert.equal(c.count(addr('192.0.2.9')), 1);
  b.lease.release();
  b.lease.release();
  assert.equal(c.count(total), 0);
  assert.equal(c.count(addr('192.0.2.9')), 0);
  // Still zero, not negative: two places fit again, the third does not.
  assert.equal(c.acquire([{ key: total, max: 2 }]).kind, 'granted');
  assert.equal(c.acquire([{ key: total, max: 2 }]).kind, 'granted');
  assert.equal(c.acquire([{ key: total, max: 2 }]).kind, 'refused');
});

test('counter: all or nothing, naming the key at its max', () => {
  const c = new InProcessCounter();
  assert.equal(c.acquire([{ key: addr('192.0.2.1'), max: 1 }]).kind, 'granted');
  const r = c.acquire([{ key: total, max: 10 }, { key: addr('192.0.2.1'), max: 1 }]);
  assert.deepEqual(r, { kind: 'refused', key: addr('192.0.2.1'), max: 1 });
  assert.equal(c.count(total), 0, 'the refused request took no place under the key that had room');
});

test('limits: trusted clients skip the address and user+IP counts, never the total; 0 turns a limit off', async () => {
  const c = new InProcessCounter();
  const limits = new ConnectionLimits(c, { max_userip_connections: 1, max_connections_per_address: 1, max_connections: 3 });
  assert.equal((await limits.admit('192.0.2.1', false)).kind, 'granted');
  assert.equal((await limits.admit('192.0.2.1', false)).kind, 'refused');
  assert.equal((await limits.admit('192.0.2.1', true)).kind, 'granted', 'exempt from the per-address limit');
  assert.equal(c.count(total), 2);
  assert.equal((await limits.admit('192.0.2.2', false)).kind, 'granted');
  const over = await limits.admit('192.0.2.3', true);
  assert.ok(over.kind === 'refused' && over.key.limit === 'total', 'the total applies to trusted clients too');

  assert.equal((await limits.login('imap', 'alice', '192.0.2.1', false)).kind, 'granted');
  assert.equal((await limits.login('imap', 'alice', '192.0.2.1', false)).kind, 'refused');
  assert.equal((await limits.login('imap', 'alice', '192.0.2.1', true)).kind, 'granted');

  const off = new ConnectionLimits(c, { max_userip_connections: 0, max_connections_per_address: 0, max_connections: 0 });
  for (let i = 0; i < 5; i++) {
    assert.equal((await off.admit('192.0.2.1', false)).kind, 'granted');
    assert.equal((await off.login('imap', 'alice', '192.0.2.1', false)).kind, 'granted');
  }
  assert.equal(c.count(total), 3, 'limits that are off count nothing');
});
