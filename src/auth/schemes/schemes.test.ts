import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { getScheme, hashPassword, listSchemes, splitScheme, verifyPassword } from './registry.js';

const PW = 'Sécret p@ss';
const USER = 'alice@example.com';

/**
 * Made by Dovecot 2.3.19: `doveadm pw -s SCHEME -p 'Sécret p@ss' -u alice@example.com`,
 * and for the `secret` rows `doveadm pw -s SCHEME -r ROUNDS -p secret`.
 */
const DOVEADM_VECTORS: ReadonlyArray<{ plain: string; stored: string }> = [
  { plain: PW, stored: '{PLAIN}Sécret p@ss' },
  { plain: PW, stored: '{CLEARTEXT}Sécret p@ss' },
  { plain: PW, stored: '{PLAIN-MD5}878dbbe33344c71d1ac4ddf62032c641' },
  { plain: PW, stored: '{PLAIN-MD5.B64}h4274zNExx0axN32IDLGQQ==' },
  { plain: PW, stored: '{PLAIN-MD5.HEX}878dbbe33344c71d1ac4ddf62032c641' },
  { plain: PW, stored: '{SHA512-CRYPT}$6$Uwnt1HcXFFfHLIFf$yzkGQbsEzRzoKQoFjSeW0pcwFPZsIvWWlKY7mCjwzXY3BWT0le5kDYeR2ruyimbGeArC32334IhCxXhJA8VpK0' },
  { plain: PW, stored: '{SHA256-CRYPT}$5$rn9CEYR2FnBA8Ym5$ECOt8dZn6du0ceYuSGq46JYoGDUqfVcF24PhAHPtk07' },
  { plain: PW, stored: '{BLF-CRYPT}$2y$05$kWul1hz04wZ/Z2QlJfCaC.QDACWM5XLD6gJZXXBcj.W1I3s4r1iWC' },
  { plain: PW, stored: '{CRYPT}$2y$05$MMOUgJX/f0BunW0qt90D7unX/ojFDvEZzOPnHxaupADH2TUUl83/e' },
  { plain: 'secret', stored: '{SHA512-CRYPT}$6$rounds=10000$t5FkF.MtdVlWjYvS$WQ8r8eQsisjpA1xuJ1pjy0MIQKB1ySQ1BT0G1tgPGp3IAfThPCe9OtbZTei9TbIEFt845tU7o9bHTwYBkKjNS0' },
  { plain: 'secret', stored: '{SHA256-CRYPT}$5$rounds=1000$x6FL85wSKZYVx9Ha$/rrGqfBtHlNfbWp64zQyDw/dbGTyK9oGZk9BHmfD4n0' },
  { plain: 'secret', stored: '{BLF-CRYPT}$2y$04$H7qUB2tZjAOm94kq/TnCLOeJthcFwBv/MR/RDxhHxWEiKyekZGnKS' },
  { plain: '', stored: '{PLAIN-MD5}d41d8cd98f00b204e9800998ecf8427e' },
];

describe('schemes: doveadm pw vectors', () => {
  for (const v of DOVEADM_VECTORS) {
    it(`${v.stored.slice(0, 40)} accepts the right password`, async () => {
      assert.deepEqual(await verifyPassword(v.plain, v.stored, 'PLAIN', USER), { ok: true });
    });
    it(`${v.stored.slice(0, 40)} refuses a wrong one`, async () => {
      assert.deepEqual(await verifyPassword(`${v.plain}x`, v.stored, 'PLAIN', USER), { ok: false });
      assert.deepEqual(await verifyPassword(v.plain.toUpperCase() + 'Y', v.stored, 'PLAIN', USER), { ok: false });
    });
  }
});

describe('schemes: Dovecot parsing rules', () => {
  // Each row checked against `doveadm pw -t` where Dovecot has an opinion.
  const cases: ReadonlyArray<{ name: string; plain: string; stored: string; dflt?: string; want: 'ok' | 'no' | 'error' }> = [
    { name: 'scheme names are case-insensitive', plain: PW, stored: '{plain-md5}878dbbe33344c71d1ac4ddf62032c641', want: 'ok' },
    { name: 'upper-case hex digest', plain: PW, stored: '{PLAIN-MD5}878DBBE33344C71D1AC4DDF62032C641', want: 'ok' },
    { name: 'base64 digest without suffix is guessed', plain: PW, stored: '{PLAIN-MD5}h4274zNExx0axN32IDLGQQ==', want: 'ok' },
    { name: 'SHA512-CRYPT verifies a $5$ string (crypt picks by prefix)', plain: PW, stored: '{SHA512-CRYPT}$5$rn9CEYR2FnBA8Ym5$ECOt8dZn6du0ceYuSGq46JYoGDUqfVcF24PhAHPtk07', want: 'ok' },
    { name: 'bcrypt $2b$ accepted', plain: PW, stored: '{BLF-CRYPT}$2b$05$kWul1hz04wZ/Z2QlJfCaC.QDACWM5XLD6gJZXXBcj.W1I3s4r1iWC', want: 'ok' },
    { name: 'bcrypt $2a$ accepted', plain: PW, stored: '{BLF-CRYPT}$2a$05$kWul1hz04wZ/Z2QlJfCaC.QDACWM5XLD6gJZXXBcj.W1I3s4r1iWC', want: 'ok' },
    { name: 'PLAIN.b64', plain: PW, stored: '{PLAIN.b64}U8OpY3JldCBwQHNz', want: 'ok' },
    { name: 'PLAIN.hex', plain: 'secret', stored: '{PLAIN.HEX}736563726574', want: 'ok' },
    { name: 'bare value takes the default scheme', plain: 'secret', stored: 'secret', want: 'ok' },
    { name: 'bare crypt string with default CRYPT', plain: 'secret', stored: '$2y$04$H7qUB2tZjAOm94kq/TnCLOeJthcFwBv/MR/RDxhHxWEiKyekZGnKS', dflt: 'CRYPT', want: 'ok' },
    { name: 'no closing brace: not a scheme', plain: '{PLAIN', stored: '{PLAIN', want: 'ok' },
    { name: 'empty PLAIN matches only empty', plain: 'x', stored: '{PLAIN}', want: 'no' },
    { name: 'empty CRYPT never matches', plain: '', stored: '{CRYPT}', want: 'no' },
    { name: 'unknown scheme', plain: 'x', stored: '{NOPE}x', want: 'error' },
    { name: 'unknown encoding suffix', plain: 'x', stored: '{PLAIN.rot13}x', want: 'error' },
    { name: 'unknown default scheme', plain: 'x', stored: 'x', dflt: 'NOPE', want: 'error' },
    { name: 'PLAIN-MD5 not hex nor base64', plain: 'x', stored: '{PLAIN-MD5}zz', want: 'error' },
    { name: 'PLAIN-MD5 wrong length', plain: 'x', stored: '{PLAIN-MD5}abcd', want: 'error' },
    { name: 'PLAIN.hex odd length', plain: 'x', stored: '{PLAIN.hex}53c3a963726574207040737', want: 'error' },
    { name: 'PLAIN.b64 with non-UTF-8 bytes', plain: '\uFFFD', stored: '{PLAIN.b64}/w==', want: 'no' },
    // `doveadm pw -s MD5-CRYPT -p secret` and `doveadm pw -s DES-CRYPT -p secret`.
    { name: 'bare $1$ is MD5-CRYPT whatever the default', plain: 'secret', stored: '$1$BD9zg1Mu$l2Tx9nlvX/pNwCyPujR5J/', dflt: 'SHA512-CRYPT', want: 'ok' },
    { name: 'bare $1$ drops a trailing $field, as Dovecot', plain: 'secret', stored: '$1$BD9zg1Mu$l2Tx9nlvX/pNwCyPujR5J/$x', want: 'ok' },
    { name: 'DES-CRYPT under CRYPT', plain: 'secret', stored: '{CRYPT}1uqvJN7Xifoy.', want: 'ok' },
    { name: 'yescrypt under CRYPT is unsupported', plain: 'x', stored: '{CRYPT}$y$j9T$F5Jx5fExrKuJdG3W9hfpD/$d1w2l3Dxz9dLm7uSs2Nm1gCDJHtnUqXJH3G2JgCwG8C', want: 'error' },
    { name: 'BLF-CRYPT rejects SHA-crypt', plain: 'secret', stored: '{BLF-CRYPT}$5$rounds=1000$x6FL85wSKZYVx9Ha$/rrGqfBtHlNfbWp64zQyDw/dbGTyK9oGZk9BHmfD4n0', want: 'error' },
    { name: 'truncated bcrypt', plain: 'x', stored: '{BLF-CRYPT}$2y$05$kWul1hz04wZ/Z2', want: 'error' },
    { name: 'bcrypt cost too high to compute', plain: 'x', stored: '{BLF-CRYPT}$2y$31$kWul1hz04wZ/Z2QlJfCaC.QDACWM5XLD6gJZXXBcj.W1I3s4r1iWC', want: 'error' },
    { name: 'SHA-crypt rounds too high to compute', plain: 'x', stored: '{SHA512-CRYPT}$6$rounds=999999999$abc$def', want: 'error' },
    { name: 'SHA-crypt bad salt characters', plain: 'x', stored: '{SHA512-CRYPT}$6$a!b$def', want: 'error' },
    { name: 'SHA-crypt without digest', plain: 'x', stored: '{SHA512-CRYPT}$6$abc', want: 'error' },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const r = await verifyPassword(c.plain, c.stored, c.dflt ?? 'PLAIN', USER);
      const got = 'error' in r ? 'error' : r.ok ? 'ok' : 'no';
      assert.equal(got, c.want, JSON.stringify(r));
    });
  }
});

describe('schemes: generate', () => {
  const schemes = ['PLAIN', 'CLEARTEXT', 'PLAIN-MD5', 'PLAIN-MD5.b64', 'PLAIN.hex', 'SHA256-CRYPT', 'SHA512-CRYPT', 'BLF-CRYPT', 'CRYPT',
    'LDAP-MD5', 'MD5-CRYPT', 'MD5', 'SHA', 'SHA1', 'SSHA', 'SHA256', 'SSHA256', 'SHA512', 'SSHA512', 'SMD5', 'DES-CRYPT', 'ARGON2I',
    'ARGON2ID', 'PBKDF2', 'CRAM-MD5', 'HMAC-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'SHA256.hex', 'SSHA.b64', 'CRAM-MD5.b64'];
  for (const scheme of schemes) {
    it(`${scheme} round-trips`, async () => {
      const value = await hashPassword(scheme, PW, USER);
      assert.deepEqual(await verifyPassword(PW, `{${scheme}}${value}`, 'PLAIN', USER), { ok: true });
      assert.deepEqual(await verifyPassword('nope', `{${scheme}}${value}`, 'PLAIN', USER), { ok: false });
    });
  }
  it('writes what Dovecot writes', async () => {
    assert.match(await hashPassword('BLF-CRYPT', 'x', ''), /^\$2y\$05\$/);
    assert.match(await hashPassword('SHA512-CRYPT', 'x', ''), /^\$6\$[./0-9A-Za-z]{16}\$/);
    assert.equal(await hashPassword('PLAIN-MD5', '', ''), 'd41d8cd98f00b204e9800998ecf8427e');
    assert.equal(await hashPassword('PLAIN-MD5.B64', PW, ''), 'h4274zNExx0axN32IDLGQQ==');
    // Unsalted digests are deterministic: these are `doveadm pw -s SCHEME -p 'Sécret p@ss'`.
    assert.equal(await hashPassword('LDAP-MD5', PW, ''), 'h4274zNExx0axN32IDLGQQ==');
    assert.equal(await hashPassword('SHA', PW, ''), 'G2TFZP9+THl8TwRF+dSN7LAg9qE=');
    assert.equal(await hashPassword('SHA256.hex', PW, ''), 'bb946bffa578d62ca657a774f91f91895a3ad16a0259b20ec19c77d29d0d9d86');
    assert.equal(await hashPassword('CRAM-MD5', PW, ''), 'fcc4f676abbf90231e2bf2342b8b2c2346eeb22767ff3b829057f95597d3372e');
    assert.match(await hashPassword('MD5-CRYPT', 'x', ''), /^\$1\$[./0-9A-Za-z]{8}\$[./0-9A-Za-z]{22}$/);
    assert.match(await hashPassword('DES-CRYPT', 'x', ''), /^[./0-9A-Za-z]{13}$/);
    assert.match(await hashPassword('PBKDF2', 'x', ''), /^\$1\$[./0-9A-Za-z]{16}\$5000\$[0-9a-f]{40}$/);
    assert.match(await hashPassword('SCRAM-SHA-256', 'x', ''), /^4096,[A-Za-z0-9+/]{22}==,[A-Za-z0-9+/]{43}=,[A-Za-z0-9+/]{43}=$/);
    assert.match(await hashPassword('ARGON2I', 'x', ''), /^\$argon2i\$v=19\$m=32768,t=4,p=1\$[A-Za-z0-9+/]{22}\$[A-Za-z0-9+/]{43}$/);
    assert.match(await hashPassword('ARGON2ID', 'x', ''), /^\$argon2id\$v=19\$m=65536,t=3,p=1\$/);
    assert.match(await hashPassword('SSHA', 'x', ''), /^[A-Za-z0-9+/]{32}$/, '20-byte digest + 4-byte salt');
  });
  it('-r follows Dovecot: defaults, minimums, profiles', async () => {
    assert.match(await hashPassword('SHA512-CRYPT', 'x', '', { rounds: 10 }), /^\$6\$rounds=1000\$/);
    assert.match(await hashPassword('SHA512-CRYPT', 'x', '', { rounds: 5000 }), /^\$6\$(?!rounds=)/);
    assert.match(await hashPassword('BLF-CRYPT', 'x', '', { rounds: 1 }), /^\$2y\$04\$/);
    assert.match(await hashPassword('CRYPT', 'x', '', { rounds: 6 }), /^\$2y\$06\$/);
    assert.match(await hashPassword('PBKDF2', 'x', '', { rounds: 1 }), /^\$1\$[^$]{16}\$1\$/);
    assert.match(await hashPassword('ARGON2I', 'x', '', { rounds: 6 }), /^\$argon2i\$v=19\$m=131072,t=6,p=1\$/);
    assert.match(await hashPassword('ARGON2ID', 'x', '', { rounds: 1 }), /^\$argon2id\$v=19\$m=65536,t=3,p=1\$/);
    assert.match(await hashPassword('SCRAM-SHA-1', 'x', '', { rounds: 0 }), /^4096,/);
    assert.equal(await hashPassword('SHA', PW, '', { rounds: 99 }), 'G2TFZP9+THl8TwRF+dSN7LAg9qE=', 'ignored where there are no rounds');
  });
  it('unknown scheme throws a coded error', async () => {
    await assert.rejects(hashPassword('NOPE', 'x', ''), { code: 'AUTH_UNKNOWN_SCHEME' });
  });
});

describe('schemes: registry', () => {
  it('lists names and aliases', () => {
    for (const n of ['PLAIN', 'CLEARTEXT', 'PLAIN-MD5', 'SHA256-CRYPT', 'SHA512-CRYPT', 'BLF-CRYPT', 'CRYPT', 'LDAP-MD5', 'MD5-CRYPT',
      'SHA', 'SSHA', 'SHA256', 'SSHA256', 'SHA512', 'SSHA512', 'ARGON2I', 'ARGON2ID', 'PBKDF2', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256']) {
      assert.ok(listSchemes().includes(n), n);
    }
  });
  it('getScheme resolves suffixes and refuses unknown ones', () => {
    assert.equal(getScheme('plain-md5.b64')?.name, 'PLAIN-MD5.B64');
    assert.equal(getScheme('PLAIN.x'), undefined);
    assert.equal(getScheme(''), undefined);
  });
  it('splitScheme', () => {
    assert.deepEqual(splitScheme('{A}b'), { scheme: 'A', value: 'b' });
    assert.deepEqual(splitScheme('{A'), { value: '{A' });
    assert.deepEqual(splitScheme('{}x'), { scheme: '', value: 'x' });
    assert.deepEqual(splitScheme('plain'), { value: 'plain' });
  });
});

describe('schemes: properties', () => {
  it('verifyPassword never throws on arbitrary stored values', async () => {
    const schemes = ['PLAIN', 'PLAIN-MD5', 'PLAIN-MD5.b64', 'PLAIN.hex', 'CRYPT', 'SHA512-CRYPT', 'BLF-CRYPT', 'X'];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...schemes), fc.string({ maxLength: 80 }), fc.string(), async (scheme, stored, plain) => {
        const r = await verifyPassword(plain, `{${scheme}}${stored}`, 'PLAIN', '');
        assert.ok('error' in r || typeof r.ok === 'boolean');
      }),
      { numRuns: 300 },
    );
  });
  it('PLAIN and PLAIN-MD5 accept exactly the hashed password', async () => {
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('PLAIN', 'PLAIN-MD5', 'PLAIN-MD5.b64', 'PLAIN.b64'), fc.string(), fc.string(), async (scheme, a, b) => {
        const stored = `{${scheme}}${await hashPassword(scheme, a, '')}`;
        assert.deepEqual(await verifyPassword(b, stored, 'PLAIN', ''), { ok: a === b });
      }),
      { numRuns: 300 },
    );
  });
});
