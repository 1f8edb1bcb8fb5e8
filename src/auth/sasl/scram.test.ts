import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatScram, scramCredentials } from '../schemes/scram.js';
import { getMechanism } from './index.js';
import { scramClient } from './test-clients.js';

const creds = async (hash: 'sha1' | 'sha256', salt: string) => formatScram(await scramCredentials(hash, 'pencil', Buffer.from(salt, 'base64'), 4096));

// RFC 5802 §5 and RFC 7677 §3: user "user", password "pencil".
const VECTORS = [
  {
    mech: 'SCRAM-SHA-1',
    hash: 'sha1' as const,
    salt: 'QSXCR+Q6sek8bf92',
    snonce: '3rfcNHYJY1ZVvWVs7j',
    clientFirst: 'n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL',
    serverFirst: 'r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096',
    clientFinal: 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=',
    serverFinal: 'v=rmF9pqV8S7suAoZWja4dJRkFsKQ=',
  },
  {
    mech: 'SCRAM-SHA-256',
    hash: 'sha256' as const,
    salt: 'W22ZaJ0SNY7soEsUEjb6gQ==',
    snonce: '%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0',
    clientFirst: 'n,,n=user,r=rOprNGfwEbeRWgbNEkqO',
    serverFirst: 'r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096',
    clientFinal: 'c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=',
    serverFinal: 'v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=',
  },
];

for (const v of VECTORS) {
  test(`${v.mech}: the RFC test vector, message by message`, async () => {
    const ex = getMechanism(v.mech)!.start({ challenge: () => v.snonce });
    assert.deepEqual(ex.next(null), { kind: 'challenge', data: Buffer.alloc(0) }, 'no initial response: an empty challenge');
    assert.deepEqual(ex.next(Buffer.from(v.clientFirst)), { kind: 'lookup', identity: { authcid: 'user' }, scheme: v.mech });
    const sf = ex.credentials!(await creds(v.hash, v.salt));
    assert.ok(sf.kind === 'challenge');
    assert.equal(sf.data.toString(), v.serverFirst);
    const done = ex.next(Buffer.from(v.clientFinal));
    assert.ok(done.kind === 'proven');
    assert.equal(done.data?.toString(), v.serverFinal);
  });

  test(`${v.mech}: a wrong proof is a mismatch; a replayed final message is refused`, async () => {
    const ex = getMechanism(v.mech)!.start({ challenge: () => v.snonce });
    ex.next(Buffer.from(v.clientFirst));
    ex.credentials!(formatScram(await scramCredentials(v.hash, 'not-pencil', Buffer.from(v.salt, 'base64'), 4096)));
    assert.deepEqual(ex.next(Buffer.from(v.clientFinal)), { kind: 'mismatch' });
    assert.equal(ex.next(Buffer.from(v.clientFinal)).kind, 'invalid');
  });
}

test('SCRAM: authzid, escaped names and extensions pass through; the client checks our verifier', async () => {
  const client = scramClient('sha256', 'a,b=c', 'pw', 'nonce123', 'bob');
  const ex = getMechanism('SCRAM-SHA-256')!.start();
  const look = ex.next(client.first());
  assert.deepEqual(look, { kind: 'lookup', identity: { authcid: 'a,b=c', authzid: 'bob' }, scheme: 'SCRAM-SHA-256' });
  const sf = ex.credentials!(formatScram(await scramCredentials('sha256', 'pw', Buffer.from('salt-salt-salt!!'), 4096)));
  assert.ok(sf.kind === 'challenge');
  const done = ex.next(client.final(sf.data));
  assert.ok(done.kind === 'proven');
  assert.equal(done.data?.toString(), client.expectedVerifier());
});

test('SCRAM: hostile and malformed client-first messages', () => {
  const bad: Array<[string, string]> = [
    ['no gs2 header', 'n=user,r=abc'],
    ['channel binding asked for', 'p=tls-unique,,n=user,r=abc'],
    ['bad cbind flag', 'x,,n=user,r=abc'],
    ['bad authzid', 'n,b=bob,n=user,r=abc'],
    ['bad authzid escape', 'n,a=b=2Xb,n=user,r=abc'],
    ['mandatory extension', 'n,,m=ext,n=user,r=abc'],
    ['no user', 'n,,r=abc'],
    ['bad user escape', 'n,,n=us=er,r=abc'],
    ['empty user', 'n,,n=,r=abc'],
    ['no nonce', 'n,,n=user'],
    ['empty nonce', 'n,,n=user,r='],
    ['bad nonce', 'n,,n=user,x=abc'],
    ['empty', ''],
  ];
  for (const [why, msg] of bad) assert.equal(getMechanism('SCRAM-SHA-1')!.start().next(Buffer.from(msg)).kind, 'invalid', why);
  assert.equal(getMechanism('SCRAM-SHA-1')!.start().next(Buffer.from([0x6e, 0x2c, 0x2c, 0xff])).kind, 'invalid', 'not UTF-8');
});

test('SCRAM: hostile client-final messages', async () => {
  const v = VECTORS[0]!;
  const bad: Array<[string, string]> = [
    ['too few fields', 'c=biws,p=abc'],
    ['wrong channel binding', v.clientFinal.replace('c=biws', 'c=eSws')],
    ['wrong nonce', v.clientFinal.replace('3rfc', '4rfc')],
    ['no proof', 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,x=1'],
    ['short proof', 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=AAAA'],
    ['proof not base64', 'c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=!!!!'],
  ];
  for (const [why, msg] of bad) {
    const ex = getMechanism('SCRAM-SHA-1')!.start({ challenge: () => v.snonce });
    ex.next(Buffer.from(v.clientFirst));
    ex.credentials!(await creds('sha1', v.salt));
    assert.equal(ex.next(Buffer.from(msg)).kind, 'invalid', why);
  }
});

test('SCRAM: credentials that do not parse are a mismatch, not a crash', () => {
  const ex = getMechanism('SCRAM-SHA-1')!.start();
  ex.next(Buffer.from('n,,n=user,r=abc'));
  assert.deepEqual(ex.credentials!('4096,not-base64!,x,y'), { kind: 'mismatch' });
});

test('every mechanism: arbitrary bytes at any step never throw', async () => {
  const { default: fc } = await import('fast-check');
  const stored = await creds('sha1', VECTORS[0]!.salt);
  const names = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'XOAUTH2', 'OAUTHBEARER', 'EXTERNAL'];
  fc.assert(
    fc.property(fc.constantFrom(...names), fc.array(fc.option(fc.uint8Array({ maxLength: 200 }), { nil: null }), { maxLength: 4 }), (name, msgs) => {
      const ex = getMechanism(name)!.start({ certUsername: 'u' });
      for (const m of msgs) {
        const step = ex.next(m === null ? null : Buffer.from(m));
        if (step.kind === 'lookup') ex.credentials!(name === 'CRAM-MD5' ? 'ab'.repeat(32) : stored);
      }
    }),
  );
});
