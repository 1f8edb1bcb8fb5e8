// Every scheme against hashes made by Dovecot: right password accepted, wrong one refused.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { verifyPassword } from './registry.js';

const PW = 'Sécret p@ss';
const LONG = 'This passphrase is longer than sixty-four bytes, so HMAC hashes the key first!';

interface Vector {
  stored: string;
  plain: string;
  /** A wrong password; DES-crypt needs one that differs in its first 8 bytes. */
  wrong: string;
}

const v = (stored: string, plain = PW, wrong = 'sécret p@ss'): Vector => ({ stored, plain, wrong });

/**
 * Made by Dovecot 2.3.19.1 (Debian 12): `doveadm pw -s SCHEME -p PASSWORD -u alice@example.com`,
 * with PASSWORD 'Sécret p@ss' unless given, LONG (78 bytes), '' or 'secret' with `-r ROUNDS`.
 */
const VECTORS: readonly Vector[] = [
  v('{LDAP-MD5}h4274zNExx0axN32IDLGQQ=='),
  v('{LDAP-MD5.HEX}878dbbe33344c71d1ac4ddf62032c641'),
  v('{MD5-CRYPT}$1$z5t41SBq$viCPMVi1PXRLdZU8yQmUs.'),
  v('{MD5-CRYPT.B64}JDEkNzhHRnlPNmskZXJSelFVdVUxUDZSTXNPdmZoRmcwLw=='),
  v('{MD5-CRYPT}$1$t2zYcSXH$cJ/a8Y3W9QyoXbp5No9/V1', LONG, `${LONG}.`),
  v('{MD5-CRYPT}$1$MEjF7Jyi$tHPojfqHl72.NkC.Nc7Nm.', '', ' '),
  v('{MD5}$1$PkAhaTPS$PQSddQ9W.iaqqD0t8xao2/'),
  v('{SHA}G2TFZP9+THl8TwRF+dSN7LAg9qE='),
  v('{SHA1}G2TFZP9+THl8TwRF+dSN7LAg9qE='),
  v('{SHA.HEX}1b64c564ff7e4c797c4f0445f9d48decb020f6a1'),
  v('{SHA}2jmj7l5rSw0yVb/vlWAYkK/YBwk=', '', ' '),
  v('{SSHA}0pQiq8js4HpmbQIQmq5kW3avIoTR2LeX'),
  v('{SSHA.HEX}1f43a4ea8658a75afdafc29a6f9d3889947715ee27d1e019'),
  v('{SSHA}uzsivcQdDyVgD8uGUFrV18QccdGubfTR', LONG, `${LONG}.`),
  v('{SHA256}u5Rr/6V41iymV6d0+R+RiVo60WoCWbIOwZx30p0NnYY='),
  v('{SHA256.HEX}bb946bffa578d62ca657a774f91f91895a3ad16a0259b20ec19c77d29d0d9d86'),
  v('{SSHA256}K/TakJA39LtuzBW0CtIDg+HXNGjy0VisqR/3v4vRyQFA7lRU'),
  v('{SSHA256.HEX}6cda7165c40c9a581fe06c251ac01ef07b31e4483bbbb1219ad19b7f62ec5baf2488e99c'),
  v('{SHA512}jt03UHIjgwNi1bcNfFr7sgPqWioTrjqBg9LVoj4IwHDJ1vK+ts1oUkAo2x3ocibt1KQ23iaDH1F4q5n33FVfxw=='),
  v('{SHA512.HEX}8edd37507223830362d5b70d7c5afbb203ea5a2a13ae3a8183d2d5a23e08c070c9d6f2beb6cd68524028db1de87226edd4a436de26831f5178ab99f7dc555fc7'),
  v('{SSHA512}YP9sMjAzen/QVwUmtusUiywMbuC1yRhzXnS9LwYGRHHiW3Pi/TTDBUElVsOGBzGzIV5/k9ReyKrL46VTSQoSv10b1x8='),
  v('{SSHA512.B64}iwdNX9FhHoAbvAZ1VZF7olTpp2uMb2eMMbI/O6jxkHk7PHS84amvgpm+kY2E6J1XsoxZ5gFWLL93eJ6tCVhE4aQ1xUE='),
  v('{SSHA512}gHyVRr5FVFE5RGmCRwGh8iqIcg7+ApW3Fl90ASd5ANklBFvu3Qxenzvaw82HSppZwOtOUkMqbE/PUqT8vr+J3erKjdA=', '', ' '),
  v('{SMD5}FZQpLyMEw3ZoAVjUyMXhGiSwBuI='),
  v('{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$N6q1bzjmbhHibp5NAhiUNA$JUHHL8CmA2fprxQZLouzFD0+G/BAL6FzsmUVoaacScI'),
  v('{ARGON2I}$argon2i$v=19$m=32768,t=3,p=1$gA8HjlF/cy++19ppzvHyVg$KWCH1ISmfPe/ODKHApyk9pZpprWDPnTQPNsseYz5DiA', 'secret', 'Secret'),
  v('{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$uwBImY4wv6lWYiZmSvrIkw$K5cZRuT1R5aGDpNh59OEXNIwAMPaiIB+BrZ1Fkm6xdg'),
  v('{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$KL4Brr56wAkzXIgTJ/Io2w$F6LztkmVLYaS0tEtShWJmW0B2fIctY3+iDH+TAs1VLA', LONG, `${LONG}.`),
  // libsodium's verify takes either variant, so Dovecot's {ARGON2I} accepts an argon2id string.
  v('{ARGON2I}$argon2id$v=19$m=65536,t=3,p=1$uwBImY4wv6lWYiZmSvrIkw$K5cZRuT1R5aGDpNh59OEXNIwAMPaiIB+BrZ1Fkm6xdg'),
  v('{PBKDF2}$1$KetXy/J2.CC3eu1C$5000$07f989784cd8a11102708552f93366c496a3718b'),
  v('{PBKDF2}$1$70uqb9993gtOmLKw$5000$7458d88f4443d7043c08da944818da508cd437c9', LONG, `${LONG}.`),
  v('{PBKDF2}$1$oVLcqKIfz0GWtmpI$5000$f6f66723aa002cb9d8f8a0becb1d541c1e49935b', '', ' '),
  v('{PBKDF2}$1$vGLl09afJwi.6vQs$1$15cfd24880ad1badd1dcec7c518a33c7075bff10', 'secret', 'Secret'),
  v('{PBKDF2}$1$hnnr4IZcCpFoZfSb$20000$3fbc222eeeff60091ab8cd7ce11d3268440342ff', 'secret', 'Secret'),
  v('{CRYPT}$2y$05$Nu.IWUrlRf65kqz3qWU8G.J0mvOLYPvbnJR5CiBacRkqrUqg69H3S'),
  v('{CRYPT}$2y$04$B7qmpS7G2YjXAhKPet8S4.7rIPG9jaVzZ.OXN9t5hqKhmQak2.zBC', 'secret', 'Secret'),
  v('{CRYPT}r/FmTvyOI672U', PW, 'Sécrat p@ss'),
  v('{CRYPT}$1$z5t41SBq$viCPMVi1PXRLdZU8yQmUs.'),
  v('{SHA512-CRYPT}$1$z5t41SBq$viCPMVi1PXRLdZU8yQmUs.'),
  v('{DES-CRYPT}r/FmTvyOI672U', PW, 'Sécrat p@ss'),
  v('{DES-CRYPT}Bun8lJEdHR16s', LONG, 'This paX'),
  v('{DES-CRYPT}ldksH1jfdvOlo', '', ' '),
  v('{DES-CRYPT}1uqvJN7Xifoy.', 'secret', 'secreT'),
  v('{CRAM-MD5}fcc4f676abbf90231e2bf2342b8b2c2346eeb22767ff3b829057f95597d3372e'),
  v('{HMAC-MD5}fcc4f676abbf90231e2bf2342b8b2c2346eeb22767ff3b829057f95597d3372e'),
  v('{CRAM-MD5.B64}/MT2dqu/kCMeK/I0K4ssI0busidn/zuCkFf5VZfTNy4='),
  v('{CRAM-MD5}93eb111a94e40eacd9f3655bea8ce948cf57732d6db1d20e916fa2a70f4a6499', LONG, `${LONG}.`),
  v('{CRAM-MD5}00747cf2ffaf11c5ea4a64979c3901fc1d20dee13f480bb598f7d8575b23e61b', '', ' '),
  v('{SCRAM-SHA-1}4096,kd7adakshVgG9a4qWsOHhg==,ecLwuPsUb4DTKhvFSbrMuS+IDL0=,uD/rft5NWAlDAUIk2KJo3RuN+2s='),
  v('{SCRAM-SHA-1}4096,xIn5odBOUt9hL4uuk1Lgww==,RHXaAl+2rGR4gN50vrnqXo4dlD8=,7zHkz/wOhWYfqpDSWmYC8xXOdF4=', '', ' '),
  v('{SCRAM-SHA-256}4096,uV2rs/Vx8+RaF8iK7eVggQ==,X5fNM2ImQP0uvvNM1/VCoOAr1ehoh0m9fR7kjdHvzN4=,ADW/WgYvhagn5kPy9AeednvTCbzDy/4rkEEASKSfhvY='),
  v('{SCRAM-SHA-256}4096,IvzGkeuD9qjYtNOfolrCEg==,/Dh0Ox1KXK3PGOqAMhnaN8kgYUR5JwT0W01v2BI8IgQ=,fkO9E9sMEJHCI6f4nvmPJ/IgSU62IwDyHvOqDCVquVA=', LONG, `${LONG}.`),
];

describe('schemes: doveadm pw vectors for every scheme', () => {
  for (const x of VECTORS) {
    it(`${x.stored.slice(0, 48)} (${x.plain.length}-char password)`, async () => {
      assert.deepEqual(await verifyPassword(x.plain, x.stored, 'PLAIN', 'alice@example.com'), { ok: true });
      assert.deepEqual(await verifyPassword(x.wrong, x.stored, 'PLAIN', 'alice@example.com'), { ok: false });
    });
  }
});

describe('schemes: known differences from Dovecot', () => {
  // `doveadm pw -s ARGON2I -p ''`: hash-wasm cannot hash an empty password, so it never matches.
  const emptyArgon2 = '{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$d0y/sKHzoqPw3VudZ9c2sA$P1JN4LtOPTe9lK0MvgX3EhI4Ygne8H5lfNFR3Dat5Rc';
  it('an empty password never matches an argon2 hash (a mismatch, not an error)', async () => {
    assert.deepEqual(await verifyPassword('', emptyArgon2, 'PLAIN', ''), { ok: false });
  });
  it('DES-crypt reads 8 bytes, as crypt(3) does', async () => {
    assert.deepEqual(await verifyPassword(`${PW}x`, '{DES-CRYPT}r/FmTvyOI672U', 'PLAIN', ''), { ok: true });
  });
});

/** Dovecot's own table, src/auth/test-libpassword.c (2.3.19.1), every password "test". */
const DOVECOT_TESTS: readonly string[] = [
  '{CRYPT}//EsnG9FLTKjo',
  '{MD5}$1$wmyrgRuV$kImF6.9MAFQNHe23kq5vI/',
  '{SHA1}qUqP5cyxm6YcTAhz05Hph5gvu9M=',
  '{SMD5}JTu1KRwptKZJg/RLd+6Vn5GUd0M=',
  '{LDAP-MD5}CY9rzUYh03PK3k6DJie09g==',
  '{SHA256}n4bQgYhMfWWaL+qgxVrQFaO/TxsrC4Is0V1sFbDwCgg=',
  '{SHA512}7iaw3Ur350mqGo7jwQrpkj9hiYB3Lkc/iBml1JQODbJ6wYX4oOHV+E+IvIh/1nsUNzLDBMxfqa2Ob1f1ACio/w==',
  '{SSHA}H/zrDv8FXUu1JmwvVYijfrYEF34jVZcO',
  '{MD5-CRYPT}$1$GgvxyNz8$OjZhLh4P.gF1lxYEbLZ3e/',
  '{PBKDF2}$1$bUnT4Pl7yFtYX0KU$5000$50a83cafdc517b9f46519415e53c6a858908680a',
  '{CRAM-MD5}e02d374fde0dc75a17a557039a3a5338c7743304777dccd376f332bee68d2cf6',
  '{SCRAM-SHA-1}4096,GetyLXdBuHzf1FWf8SLz2Q==,NA/OqmF4hhrsrB9KR7po+dliTGM=,QBiURvQaE6H6qYTmeghDHLANBFQ=',
  '{SCRAM-SHA-256}4096,LfNGSFqiFykEZ1xDAYlnKQ==,HACNf9CII7cMz3XjRy/Oh3Ae2LHApoDyNw74d3YtFws=,AQH0j7Hf8J12g8eNBadvzlNB2am3PxgNwFCFd3RxEaw=',
  '{BLF-CRYPT}$2y$05$11ipvo5dR6CwkzwmhwM26OXgzXwhV2PyPuLV.Qi31ILcRcThQpEiW',
  '{ARGON2I}$argon2i$v=19$m=32768,t=4,p=1$f2iuP4aUeNMrgu34fhOkkg$1XSZZMWlIs0zmE+snlUIcLADO3GXbA2O/hsQmmc317k',
  '{ARGON2ID}$argon2id$v=19$m=65536,t=3,p=1$vBb99oJ12p3WAdYlaMHz1A$jtFOtbo/sYV9OSlTxDo/nVNq3uArHd5GJSEx0ty85Cc',
];

describe("schemes: vectors from Dovecot's own sources", () => {
  for (const stored of DOVECOT_TESTS) {
    it(stored.slice(0, 40), async () => {
      assert.deepEqual(await verifyPassword('test', stored, 'PLAIN', ''), { ok: true });
      assert.deepEqual(await verifyPassword('tesT', stored, 'PLAIN', ''), { ok: false });
    });
  }
  // src/auth/password-scheme-crypt.c checks crypt(3) with this sample at start-up.
  it('DES-crypt sample', async () => {
    assert.deepEqual(await verifyPassword('08/15!test~4711', '{DES-CRYPT}JBOZ0DgmtucwE', 'PLAIN', ''), { ok: true });
    assert.deepEqual(await verifyPassword('08/15!Test~4711', '{DES-CRYPT}JBOZ0DgmtucwE', 'PLAIN', ''), { ok: false });
  });
});
