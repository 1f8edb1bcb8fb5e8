import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { allowNetsMatch, applyRenames, fieldIsSet, getField, maskFields, parseFieldTemplate, renamedUser } from './fields.js';

describe('fields', () => {
  it('parseFieldTemplate splits on spaces, keeps = in values, keys without = are empty', () => {
    assert.deepEqual(parseFieldTemplate('  proxy=y host=%{passdb:h}  nopassword  q=a=b '), [
      ['proxy', 'y'],
      ['host', '%{passdb:h}'],
      ['nopassword', ''],
      ['q', 'a=b'],
    ]);
    assert.deepEqual(parseFieldTemplate(''), []);
    assert.throws(() => parseFieldTemplate('=x'), { code: 'AUTH_CONFIG' });
    assert.throws(() => parseFieldTemplate('__proto__=x'), { code: 'AUTH_CONFIG' });
  });

  const bools: ReadonlyArray<[value: string | undefined, want: boolean]> = [
    [undefined, false], ['', true], ['y', true], ['yes', true], ['1', true], ['true', true], ['anything', true],
    ['n', false], ['no', false], ['NO', false], ['0', false], ['false', false],
  ];
  for (const [value, want] of bools) {
    it(`fieldIsSet(${JSON.stringify(value)}) = ${want}`, () => {
      assert.equal(fieldIsSet(value === undefined ? {} : { nopassword: value }, 'nopassword'), want);
    });
  }

  it('getField ignores the prototype', () => {
    assert.equal(getField({}, 'constructor'), undefined);
    assert.equal(getField({}, 'toString'), undefined);
    assert.equal(getField({ a: 'b' }, 'a'), 'b');
  });

  it('maskFields hides password-like values', () => {
    assert.deepEqual(maskFields({ pass: 'm', password: 'p', host: 'h', userdb_crypt_key_password: 'k' }), {
      pass: '***', password: '***', host: 'h', userdb_crypt_key_password: '***',
    });
  });

  const renames: ReadonlyArray<[user: string, key: string, value: string, want: string | undefined]> = [
    ['a@x', 'user', 'b@y', 'b@y'],
    ['a@x', 'username', 'b', 'b@x'],
    ['a@x', 'username', 'b@z', 'b@z'],
    ['a', 'username', 'b', 'b'],
    ['a@x', 'domain', 'y', 'a@y'],
    ['a', 'domain', 'y', 'a@y'],
    ['a', 'host', 'h', undefined],
  ];
  for (const [user, key, value, want] of renames) {
    it(`rename ${user} with ${key}=${value}`, () => assert.equal(renamedUser(user, key, value), want));
  }
  it('applyRenames consumes the renaming fields', () => {
    assert.deepEqual(applyRenames('a@x', { user: 'b@x', domain: 'y', proxy: 'y' }), { user: 'b@y', fields: { proxy: 'y' } });
  });

  const nets: ReadonlyArray<[spec: string, ip: string, ok: boolean, invalid?: string]> = [
    ['10.0.0.0/8', '10.1.2.3', true],
    ['10.0.0.0/8', '11.1.2.3', false],
    ['192.0.2.1, 10.0.0.0/8', '192.0.2.1', true],
    ['192.0.2.1 2001:db8::/32', '2001:db8::5', true],
    ['10.0.0.0/8', '::ffff:10.9.9.9', true],
    ['local', '', true],
    ['local', '10.0.0.1', false],
    ['10.0.0.0/33', '10.0.0.1', false, '10.0.0.0/33'],
    ['example.com', '10.0.0.1', false, 'example.com'],
  ];
  for (const [spec, ip, ok, invalid] of nets) {
    it(`allow_nets=${spec} for ${ip || '(none)'}`, () => {
      const r = allowNetsMatch(spec, ip);
      assert.equal(r.ok, ok);
      assert.equal(r.invalid, invalid);
    });
  }
});
