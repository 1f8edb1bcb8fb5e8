// Malformed and costly stored values: each is an AUTH_SCHEME_DATA error, reported at once.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { hashPassword, verifyPassword } from './registry.js';

const SCRAM1 = 'kd7adakshVgG9a4qWsOHhg==,ecLwuPsUb4DTKhvFSbrMuS+IDL0=,uD/rft5NWAlDAUIk2KJo3RuN+2s=';
const ARGON_TAIL = 'uwBImY4wv6lWYiZmSvrIkw$K5cZRuT1R5aGDpNh59OEXNIwAMPaiIB+BrZ1Fkm6xdg';

// Each row checked with `doveadm pw -t` where Dovecot has an opinion; the caps are ours.
const ERRORS: ReadonlyArray<{ name: string; stored: string }> = [
  { name: 'argon2 memory of 4 GiB', stored: `{ARGON2ID}$argon2id$v=19$m=4194304,t=3,p=1$${ARGON_TAIL}` },
  { name: "argon2 libsodium's sensitive profile (1 GiB)", stored: `{ARGON2ID}$argon2id$v=19$m=1048576,t=4,p=1$${ARGON_TAIL}` },
  { name: 'argon2 time cost 4294967295', stored: `{ARGON2I}$argon2i$v=19$m=32768,t=4294967295,p=1$${ARGON_TAIL}` },
  { name: 'argon2 time cost 0', stored: `{ARGON2I}$argon2i$v=19$m=32768,t=0,p=1$${ARGON_TAIL}` },
  { name: 'argon2 parallelism 255', stored: `{ARGON2I}$argon2i$v=19$m=32768,t=1,p=255$${ARGON_TAIL}` },
  { name: 'argon2 memory below 8 KiB a lane', stored: `{ARGON2I}$argon2i$v=19$m=8,t=1,p=2$${ARGON_TAIL}` },
  { name: 'argon2 version 16', stored: `{ARGON2ID}$argon2id$v=16$m=65536,t=3,p=1$${ARGON_TAIL}` },
  { name: 'argon2d', stored: `{ARGON2I}$argon2d$v=19$m=65536,t=3,p=1$${ARGON_TAIL}` },
  { name: 'argon2 salt under 8 bytes', stored: '{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$AAAA$K5cZRuT1R5aGDpNh59OEXNIwAMPaiIB+BrZ1Fkm6xdg' },
  { name: 'argon2 not PHC', stored: '{ARGON2I}argon2i$v=19' },
  { name: 'PBKDF2 rounds 4294967295', stored: '{PBKDF2}$1$KetXy/J2.CC3eu1C$4294967295$07f989784cd8a11102708552f93366c496a3718b' },
  { name: 'PBKDF2 rounds 0', stored: '{PBKDF2}$1$KetXy/J2.CC3eu1C$0$07f989784cd8a11102708552f93366c496a3718b' },
  { name: 'PBKDF2 short digest', stored: '{PBKDF2}$1$KetXy/J2.CC3eu1C$5000$07f989' },
  { name: 'PBKDF2 non-hex digest', stored: '{PBKDF2}$1$KetXy/J2.CC3eu1C$5000$zzf989784cd8a11102708552f93366c496a3718b' },
  { name: 'PBKDF2 without prefix', stored: '{PBKDF2}KetXy/J2.CC3eu1C$5000$07f989784cd8a11102708552f93366c496a3718b' },
  { name: 'PBKDF2 extra field', stored: '{PBKDF2}$1$a$5000$07f989784cd8a11102708552f93366c496a3718b$x' },
  { name: 'SCRAM iterations 2147483647', stored: `{SCRAM-SHA-1}2147483647,${SCRAM1}` },
  { name: 'SCRAM iterations below 4096 (Dovecot refuses)', stored: `{SCRAM-SHA-1}4095,${SCRAM1}` },
  { name: 'SCRAM three fields', stored: '{SCRAM-SHA-1}4096,kd7adakshVgG9a4qWsOHhg==,ecLwuPsUb4DTKhvFSbrMuS+IDL0=' },
  { name: 'SCRAM StoredKey of the wrong length', stored: `{SCRAM-SHA-256}4096,${SCRAM1}` },
  { name: 'SCRAM salt not base64', stored: '{SCRAM-SHA-1}4096,!!,ecLwuPsUb4DTKhvFSbrMuS+IDL0=,uD/rft5NWAlDAUIk2KJo3RuN+2s=' },
  { name: 'SSHA no salt (Dovecot: too short)', stored: '{SSHA}G2TFZP9+THl8TwRF+dSN7LAg9qE=' },
  { name: 'SSHA512 not base64', stored: '{SSHA512}***' },
  { name: 'SHA256 wrong length', stored: '{SHA256}G2TFZP9+THl8TwRF+dSN7LAg9qE=' },
  { name: 'CRAM-MD5 wrong length', stored: '{CRAM-MD5}fcc4f676abbf90231e2bf2342b8b2c23' },
  { name: 'SHA.hex not hex', stored: '{SHA.hex}G2TFZP9+THl8TwRF+dSN7LAg9qE=' },
  { name: 'MD5-CRYPT salt longer than 8', stored: '{MD5-CRYPT}$1$123456789$viCPMVi1PXRLdZU8yQmUs.' },
  { name: 'MD5-CRYPT truncated', stored: '{MD5-CRYPT}$1$z5t41SBq$viCPMVi1PXRLdZU8yQmUs' },
  { name: 'MD5 neither $1$ nor hex', stored: '{MD5}nope' },
  { name: 'DES-CRYPT with a bad salt character', stored: '{DES-CRYPT}!/FmTvyOI672U' },
  { name: 'CRYPT of an unknown prefix', stored: '{CRYPT}$7$CU..../....abc$def' },
  { name: 'CRYPT of 12 characters', stored: '{CRYPT}r/FmTvyOI672' },
];

describe('schemes: hostile stored values are errors, never slow', () => {
  for (const c of ERRORS) {
    it(c.name, async () => {
      const started = Date.now();
      const r = await verifyPassword('Sécret p@ss', c.stored, 'PLAIN', '');
      assert.ok('error' in r, JSON.stringify(r));
      assert.ok(Date.now() - started < 5000, 'refused without computing');
    });
  }
});

describe('schemes: generation limits', () => {
  const refused: ReadonlyArray<[string, number]> = [
    ['ARGON2I', 8], // 512 MiB
    ['ARGON2ID', 4], // 1 GiB
    ['ARGON2I', 2], // libsodium refuses below 3, so does Dovecot
    ['PBKDF2', 10_000_001],
    ['SCRAM-SHA-1', 4095],
    ['SCRAM-SHA-256', 10_000_001],
    ['SHA512-CRYPT', 1_000_001],
    ['BLF-CRYPT', 21],
    ['CRYPT', 31],
  ];
  for (const [scheme, rounds] of refused) {
    it(`${scheme} -r ${rounds} is refused`, async () => {
      await assert.rejects(hashPassword(scheme, 'x', '', { rounds }), { code: 'AUTH_SCHEME_DATA' });
    });
  }
  it('argon2 of an empty password is refused, not mis-hashed', async () => {
    await assert.rejects(hashPassword('ARGON2ID', '', ''), { code: 'AUTH_SCHEME_DATA' });
  });
});

describe('schemes: properties of the new parsers', () => {
  it('verifyPassword never throws and answers at once on arbitrary values', async () => {
    const schemes = ['ARGON2I', 'ARGON2ID', 'PBKDF2', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'MD5-CRYPT', 'MD5', 'DES-CRYPT', 'CRYPT',
      'SSHA', 'SSHA512.hex', 'SHA', 'SHA256.b64', 'LDAP-MD5', 'CRAM-MD5', 'SMD5'];
    const stored = fc.oneof(
      fc.string({ maxLength: 120 }),
      fc.tuple(fc.constantFrom('$argon2i$v=19$m=', '$argon2id$v=19$m=', '$1$', '4096,', '$2y$'), fc.string({ maxLength: 100 })).map(([a, b]) => a + b),
    );
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...schemes), stored, fc.string({ maxLength: 20 }), async (scheme, value, plain) => {
        const started = Date.now();
        const r = await verifyPassword(plain, `{${scheme}}${value}`, 'PLAIN', '');
        assert.ok('error' in r || typeof r.ok === 'boolean');
        assert.ok(Date.now() - started < 5000);
      }),
      { numRuns: 300 },
    );
  });
});
