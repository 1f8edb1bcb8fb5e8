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
    { name: 'bare $1$ is MD5-CRYPT (not supported yet)', plain: 'x', stored: '$1$MyqHUIQs$UZOz5xNpAEftZRHjT4wdP1', want: 'error' },
    { name: 'DES-CRYPT under CRYPT', plain: 'x', stored: '{CRYPT}TlJEDdlrTESOo', want: 'error' },
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
  const schemes = ['PLAIN', 'CLEARTEXT', 'PLAIN-MD5', 'PLAIN-MD5.b64', 'PLAIN.hex', 'SHA256-CRYPT', 'SHA512-CRYPT', 'BLF-CRYPT', 'CRYPT'];
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
  });
  it('unknown scheme throws a coded error', async () => {
    await assert.rejects(hashPassword('NOPE', 'x', ''), { code: 'AUTH_UNKNOWN_SCHEME' });
  });
});

describe('schemes: registry', () => {
  it('lists names and aliases', () => {
    for (const n of ['PLAIN', 'CLEARTEXT', 'PLAIN-MD5', 'SHA256-CRYPT', 'SHA512-CRYPT', 'BLF-CRYPT', 'CRYPT']) {
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
