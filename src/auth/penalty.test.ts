import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AuthPolicy } from './policy.js';
import { PENALTY_EXPIRE_MS, PenaltyTable, penaltyDelayMs, penaltyIdent } from './penalty.js';

function clock() {
  let t = 1_000_000;
  return { now: () => t, advance: (ms: number) => void (t += ms) };
}

/** A policy whose waits are recorded, not slept, on an injected clock. */
function policy(opts: { failureDelayMs?: number; penalty?: boolean; maxAddresses?: number } = {}) {
  const t = clock();
  const waits: number[] = [];
  const p = new AuthPolicy({
    failureDelayMs: opts.failureDelayMs ?? 2000,
    ...(opts.penalty !== undefined ? { penalty: opts.penalty } : {}),
    ...(opts.maxAddresses !== undefined ? { maxAddresses: opts.maxAddresses } : {}),
    now: t.now,
    sleep: async (ms) => void waits.push(ms),
  });
  /** One login: the penalty wait it got, then a failure or success. */
  const attempt = async (ip: string, outcome: 'fail' | 'ok', opts2: { user?: string; password?: string; nodelay?: boolean; noPenalty?: boolean } = {}) => {
    waits.length = 0;
    const a = await p.begin({ remoteIp: ip, ...(opts2.noPenalty ? { noPenalty: true } : {}) });
    const held = waits[0] ?? 0;
    if (outcome === 'ok') a.succeeded();
    else await a.failed({ user: opts2.user ?? 'alice', password: opts2.password ?? `guess-${Math.random()}`, ...(opts2.nodelay ? { nodelay: true } : {}) });
    return { held, failureDelay: outcome === 'fail' ? (waits[held > 0 ? 1 : 0] ?? 0) : 0 };
  };
  return { p, t, attempt };
}

describe('penalty curve (Dovecot auth_penalty_to_secs)', () => {
  it('doubles from 2 s per level and stops at 15 s', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5].map(penaltyDelayMs), [0, 4000, 8000, 15000, 15000, 15000]);
  });

  it('holds each further login from a failing address longer: 0, 4, 8, 15, 15 s', async () => {
    const { attempt } = policy();
    const held: number[] = [];
    for (let i = 0; i < 5; i++) held.push((await attempt('192.0.2.1', 'fail')).held);
    assert.deepEqual(held, [0, 4000, 8000, 15000, 15000]);
  });

  it('answers every failure after auth.failure_delay, penalty or not', async () => {
    const { attempt } = policy({ failureDelayMs: 2000 });
    assert.equal((await attempt('192.0.2.1', 'fail')).failureDelay, 2000);
    assert.equal((await attempt('192.0.2.1', 'fail')).failureDelay, 2000);
  });

  it('forgets the level 15 s after the last failure, not before', async () => {
    const { attempt, t } = policy();
    await attempt('192.0.2.1', 'fail');
    await attempt('192.0.2.1', 'fail'); // level 2
    t.advance(14_999);
    assert.equal((await attempt('192.0.2.1', 'ok')).held, 8000);
    // The success reset it anyway; fail again and let time pass instead.
    await attempt('192.0.2.1', 'fail');
    t.advance(15_000);
    assert.equal((await attempt('192.0.2.1', 'fail')).held, 0);
  });

  it('a success resets the address', async () => {
    const { attempt } = policy();
    await attempt('192.0.2.1', 'fail');
    await attempt('192.0.2.1', 'fail');
    await attempt('192.0.2.1', 'ok');
    assert.equal((await attempt('192.0.2.1', 'fail')).held, 0);
  });
});

describe('who the penalty applies to', () => {
  it('is per address: an attacker does not lock the user out for everyone', async () => {
    const { attempt } = policy();
    for (let i = 0; i < 6; i++) await attempt('203.0.113.66', 'fail', { user: 'alice' });
    assert.equal((await attempt('203.0.113.66', 'fail', { user: 'alice' })).held, 15000, 'the attacker waits');
    assert.equal((await attempt('198.51.100.7', 'ok', { user: 'alice' })).held, 0, 'alice from her own address does not');
  });

  it('does not count the same wrong user+password again (a phone with an old password)', async () => {
    const { attempt } = policy();
    const phone = { user: 'alice', password: 'old-password' };
    for (let i = 0; i < 10; i++) await attempt('192.0.2.5', 'fail', phone);
    assert.equal((await attempt('192.0.2.5', 'ok')).held, 4000, 'ten retries of one password count once');
    // A different password is a new guess; a different user with that password too.
    const { attempt: a2 } = policy();
    await a2('192.0.2.5', 'fail', phone);
    await a2('192.0.2.5', 'fail', { user: 'bob', password: 'old-password' });
    assert.equal((await a2('192.0.2.5', 'ok')).held, 8000);
  });

  it('exempts trusted networks (no-penalty): no wait, no counting', async () => {
    const { attempt, p } = policy();
    for (let i = 0; i < 5; i++) assert.equal((await attempt('10.0.0.8', 'fail', { noPenalty: true })).held, 0);
    assert.equal(p.penaltyLevel({ remoteIp: '10.0.0.8' }), 0);
  });

  it('honours nodelay: no failure delay and no counting, as Dovecot', async () => {
    const { attempt } = policy();
    const r = await attempt('192.0.2.1', 'fail', { nodelay: true });
    assert.equal(r.failureDelay, 0);
    assert.equal((await attempt('192.0.2.1', 'fail')).held, 0);
  });

  it('counts nothing with failure_delay 0, and nothing at all with penalty off', async () => {
    const zero = policy({ failureDelayMs: 0 });
    for (let i = 0; i < 3; i++) assert.deepEqual(await zero.attempt('192.0.2.1', 'fail'), { held: 0, failureDelay: 0 });
    const off = policy({ penalty: false });
    for (let i = 0; i < 3; i++) assert.deepEqual(await off.attempt('192.0.2.1', 'fail'), { held: 0, failureDelay: 2000 });
  });

  it('treats an IPv6 /48 as one address', async () => {
    assert.equal(penaltyIdent('2001:db8:1:2::5'), '2001:db8:1::/48');
    assert.equal(penaltyIdent('2001:db8:1:ffff:1:2:3:4'), '2001:db8:1::/48');
    assert.equal(penaltyIdent('::ffff:192.0.2.1'), '192.0.2.1');
    assert.equal(penaltyIdent(''), '');
    const { attempt } = policy();
    await attempt('2001:db8:1:2::5', 'fail');
    assert.equal((await attempt('2001:db8:1:9::77', 'fail')).held, 4000);
    assert.equal((await attempt('2001:db8:2::1', 'ok')).held, 0);
  });
});

describe('penalty memory', () => {
  it('drops a record 29 s after its last change', () => {
    const t = clock();
    const table = new PenaltyTable({ now: t.now });
    table.failed('192.0.2.1', 0);
    t.advance(PENALTY_EXPIRE_MS - 1);
    table.failed('192.0.2.2', 0);
    assert.equal(table.size, 2);
    t.advance(1);
    assert.equal(table.level('192.0.2.1'), 0);
    assert.equal(table.size, 1);
  });

  it('tracks a bounded number of addresses, oldest out first', async () => {
    const { p, attempt } = policy({ maxAddresses: 100 });
    for (let i = 0; i < 1000; i++) await attempt(`10.${i >> 8}.${i & 255}.1`, 'fail');
    const levels = Array.from({ length: 1000 }, (_, i) => p.penaltyLevel({ remoteIp: `10.${i >> 8}.${i & 255}.1` }));
    assert.equal(levels.filter((l) => l > 0).length, 100);
    assert.ok(levels.slice(900).every((l) => l === 1), 'the most recent addresses are kept');
  });
});
