import { test } from 'node:test';
import assert from 'node:assert/strict';
import { credentialsInScheme } from './credentials.js';
import { cramMd5Context } from './schemes/cram-md5.js';
import { hashPassword } from './schemes/registry.js';
import { parseScram, scramCredentials } from './schemes/scram.js';

const cram = cramMd5Context('pw').toString('hex');

test('a plaintext password produces any credential (Dovecot passdb_handle_credentials)', async () => {
  for (const stored of ['pw', '{PLAIN}pw', '{CLEARTEXT}pw', `{PLAIN.b64}${Buffer.from('pw').toString('base64')}`, `{PLAIN.HEX}${Buffer.from('pw').toString('hex')}`]) {
    assert.deepEqual(await credentialsInScheme(stored, 'CRAM-MD5', 'u'), { ok: true, value: cram }, stored);
  }
  const s = await credentialsInScheme('{PLAIN}pw', 'SCRAM-SHA-256', 'u');
  assert.ok(s.ok);
  const c = parseScram('sha256', s.value);
  assert.deepEqual((await scramCredentials('sha256', 'pw', c.salt, c.iterations)).storedKey, c.storedKey);
});

test('a hash gives only its own scheme, re-encoded from .b64/.hex', async () => {
  assert.deepEqual(await credentialsInScheme(`{CRAM-MD5}${cram}`, 'CRAM-MD5', 'u'), { ok: true, value: cram });
  assert.deepEqual(await credentialsInScheme(`{HMAC-MD5}${cram}`, 'CRAM-MD5', 'u'), { ok: true, value: cram });
  assert.deepEqual(await credentialsInScheme(`{CRAM-MD5.b64}${Buffer.from(cram, 'hex').toString('base64')}`, 'CRAM-MD5', 'u'), { ok: true, value: cram });
  const scram = await hashPassword('SCRAM-SHA-1', 'pw', 'u');
  assert.deepEqual(await credentialsInScheme(`{SCRAM-SHA-1}${scram}`, 'SCRAM-SHA-1', 'u'), { ok: true, value: scram });
});

test('anything else is "scheme not available", not an error', async () => {
  const crypt = `{SHA512-CRYPT}${await hashPassword('SHA512-CRYPT', 'pw', 'u')}`;
  assert.deepEqual(await credentialsInScheme(crypt, 'CRAM-MD5', 'u'), { ok: false, unavailable: 'requested CRAM-MD5 scheme, but we have only SHA512-CRYPT' });
  assert.equal((await credentialsInScheme(`{CRAM-MD5}${cram}`, 'SCRAM-SHA-1', 'u')).ok, false);
  const sha1 = await hashPassword('SCRAM-SHA-1', 'pw', 'u');
  assert.ok('unavailable' in (await credentialsInScheme(`{SCRAM-SHA-1}${sha1}`, 'SCRAM-SHA-256', 'u')));
});

test('broken data and unknown schemes are errors (the passdb is at fault)', async () => {
  assert.ok('error' in (await credentialsInScheme('{NOPE}x', 'CRAM-MD5', 'u')));
  assert.ok('error' in (await credentialsInScheme('{CRAM-MD5}zz', 'CRAM-MD5', 'u')));
  assert.ok('error' in (await credentialsInScheme('{PLAIN.b64}!!', 'CRAM-MD5', 'u')));
});
