// The stored-credential forms the CRAM-MD5 and SCRAM mechanisms will use, and the primitives under them.
import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { cramMd5Context, cramMd5Digest, decodeCramMd5 } from './cram-md5.js';
import { desEncrypt, keySchedule } from './des-crypt.js';
import { md5Finish, md5Initial } from './md5-state.js';
import { md5Crypt } from './md5-crypt.js';
import { formatScram, parseScram, scramCredentials, type ScramCredentials } from './scram.js';

describe('schemes: MD5 with exposed state', () => {
  it('equals node:crypto md5 for every length around the block boundaries', () => {
    for (let n = 0; n < 200; n++) {
      const data = Buffer.alloc(n, n & 0xff);
      assert.equal(md5Finish(md5Initial(), data).toString('hex'), createHash('md5').update(data).digest('hex'), `length ${n}`);
    }
  });
});

describe('schemes: CRAM-MD5 stored context', () => {
  it('answers a challenge as HMAC-MD5 keyed with the password (RFC 2195)', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 100 }), fc.string({ maxLength: 200 }), (password, challenge) => {
        const want = createHmac('md5', Buffer.from(password, 'utf8')).update(challenge, 'utf8').digest('hex');
        assert.equal(cramMd5Digest(cramMd5Context(password), challenge).toString('hex'), want);
      }),
      { numRuns: 200 },
    );
  });
  it("answers RFC 2195's example from the context Dovecot stores", () => {
    // `doveadm pw -s CRAM-MD5 -p tanstaaftanstaaf`; challenge and digest from RFC 2195 §2.
    const context = decodeCramMd5('d06d4e1b26fccaa4b0b61801132340a354b21152711fb604ca3e035e7015116b');
    const challenge = '<1896.697170952@postoffice.reston.mci.net>';
    assert.equal(cramMd5Digest(context, challenge).toString('hex'), 'b913a602c7eda7a495b4e6e7334d3890');
  });
});

/** What the SCRAM mechanism will check: the proof recovers a ClientKey whose hash is StoredKey. */
function checkExchange(hash: 'sha1' | 'sha256', c: ScramCredentials, authMessage: string, proof: string, verifier: string) {
  const clientSignature = createHmac(hash, c.storedKey).update(authMessage).digest();
  const clientKey = Buffer.from(proof, 'base64').map((b, i) => b ^ clientSignature[i]!);
  assert.deepEqual(createHash(hash).update(clientKey).digest(), c.storedKey);
  assert.equal(createHmac(hash, c.serverKey).update(authMessage).digest('base64'), verifier);
}

describe('schemes: SCRAM stored credentials', () => {
  it("RFC 5802 §5's SCRAM-SHA-1 exchange verifies against the stored form", async () => {
    const c = await scramCredentials('sha1', 'pencil', Buffer.from('QSXCR+Q6sek8bf92', 'base64'), 4096);
    const stored = formatScram(c);
    assert.match(stored, /^4096,QSXCR\+Q6sek8bf92,/);
    const nonce = 'fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j';
    const authMessage = `n=user,r=fyko+d2lbbFgONRv9qkxdawL,r=${nonce},s=QSXCR+Q6sek8bf92,i=4096,c=biws,r=${nonce}`;
    checkExchange('sha1', parseScram('sha1', stored), authMessage, 'v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=', 'rmF9pqV8S7suAoZWja4dJRkFsKQ=');
  });
  it("RFC 7677 §3's SCRAM-SHA-256 exchange verifies against the stored form", async () => {
    const c = await scramCredentials('sha256', 'pencil', Buffer.from('W22ZaJ0SNY7soEsUEjb6gQ==', 'base64'), 4096);
    const nonce = 'rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0';
    const authMessage = `n=user,r=rOprNGfwEbeRWgbNEkqO,r=${nonce},s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096,c=biws,r=${nonce}`;
    checkExchange('sha256', parseScram('sha256', formatScram(c)), authMessage, 'dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=', '6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=');
  });
});

describe('schemes: crypt primitives', () => {
  const bits = (hex: string) => [...Buffer.from(hex, 'hex')].flatMap((b) => [7, 6, 5, 4, 3, 2, 1, 0].map((i) => (b >> i) & 1));
  const hex = (b: number[]) => Buffer.from(Array.from({ length: b.length / 8 }, (_, i) => parseInt(b.slice(i * 8, i * 8 + 8).join(''), 2))).toString('hex');
  it('DES matches the textbook example (key 133457799BBCDFF1, block 0123456789ABCDEF)', () => {
    assert.equal(hex(desEncrypt(bits('0123456789ABCDEF'), keySchedule(bits('133457799BBCDFF1')))), '85e813540f0ab405');
  });
  it("MD5-crypt of Dovecot's test-libpassword.c vector", () => {
    assert.equal(md5Crypt('test', 'GgvxyNz8'), '$1$GgvxyNz8$OjZhLh4P.gF1lxYEbLZ3e/');
  });
});
