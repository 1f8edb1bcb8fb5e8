import { test } from 'node:test';
import assert from 'node:assert/strict';
import { hashPassword, verifyPassword } from './registry.js';

test('work-factor schemes verify in the pool, with the same answers as on the event loop', async () => {
  for (const scheme of ['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT', 'ARGON2ID', 'PBKDF2', 'CRYPT']) {
    const stored = `{${scheme}}${await hashPassword(scheme, 'right', 'u')}`;
    assert.deepEqual(await verifyPassword('right', stored, 'PLAIN', 'u'), { ok: true }, scheme);
    assert.deepEqual(await verifyPassword('wrong', stored, 'PLAIN', 'u'), { ok: false }, scheme);
  }
  // Broken data is an error, not a mismatch, from the pool too.
  const broken = await verifyPassword('x', '{SHA512-CRYPT}$6$nonsense', 'PLAIN', 'u');
  assert.ok('error' in broken, JSON.stringify(broken));
  // The default scheme decides too.
  const bare = await hashPassword('SHA512-CRYPT', 'right', 'u');
  assert.deepEqual(await verifyPassword('right', bare, 'SHA512-CRYPT', 'u'), { ok: true });
});

test('the event loop goes on while a costly hash is verified', async () => {
  // bcrypt cost 12 takes a few hundred milliseconds of pure-JS hashing.
  const stored = `{BLF-CRYPT}${await hashPassword('BLF-CRYPT', 'pw', 'u', { rounds: 12 })}`;
  // A 5 ms timer: on the event loop it would wait for bcryptjs's next yield (every 100 ms or so).
  let last = Date.now();
  let longest = 0;
  let ticks = 0;
  const timer = setInterval(() => {
    const now = Date.now();
    longest = Math.max(longest, now - last);
    last = now;
    ticks++;
  }, 5);
  const verdicts = await Promise.all([verifyPassword('pw', stored, 'PLAIN', 'u'), verifyPassword('nope', stored, 'PLAIN', 'u')]);
  clearInterval(timer);
  assert.deepEqual(verdicts, [{ ok: true }, { ok: false }]);
  assert.ok(ticks >= 5, `only ${ticks} timer ticks during two cost-12 bcrypt verifications`);
  assert.ok(longest < 60, `the event loop stood still for ${longest} ms`);
});
