import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeAuthRequest } from '../testing.js';
import { varContextFromRequest } from '../vars.js';
import { entryFields, parsePassAttrs, type LdapEntry } from './ldap-attrs.js';

const entry = (values: Record<string, string[]>): LdapEntry => ({
  dn: 'uid=alice,ou=people,dc=example,dc=test',
  values: new Map(Object.entries(values).map(([k, v]) => [k.toLowerCase(), v])),
});
const ctx = varContextFromRequest(makeAuthRequest({ user: 'alice@example.test', password: 'secret' }));
const fieldsOf = (attrs: string, values: Record<string, string[]>) => entryFields(entry(values), parsePassAttrs(attrs), ctx, 'CRYPT');

describe('pass_attrs', () => {
  it('asks the server for the attributes it maps and references', () => {
    assert.deepEqual(parsePassAttrs('uid=user, userPassword=password, =host=%{ldap:mailHost}, !memberOf, cn').request, [
      'uid', 'userPassword', 'mailHost', 'memberOf', 'cn',
    ]);
    assert.deepEqual(parsePassAttrs(' , ').request, []);
  });

  const cases: ReadonlyArray<[string, string, Record<string, string[]>, Record<string, string>]> = [
    ['attr=field', 'mailHost=host', { mailHost: ['imap1'] }, { host: 'imap1' }],
    ['attr alone', 'mailHost', { mailhost: ['imap1'] }, { mailHost: 'imap1' }],
    ['names are case-insensitive', 'MAILHOST=host', { mailHost: ['imap1'] }, { host: 'imap1' }],
    ['absent attribute: no field', 'mailHost=host', {}, {}],
    ['no values: no field', 'mailHost=host', { mailHost: [] }, {}],
    ['constant', '=proxy=y', {}, { proxy: 'y' }],
    ['empty constant', '=nopassword', {}, { nopassword: '' }],
    ['%{ldap:attr}', '=host=%{ldap:mailHost}', { mailHost: ['imap1'] }, { host: 'imap1' }],
    ['%{ldap:attr:default}', '=host=%{ldap:mailHost:imap0}', {}, { host: 'imap0' }],
    ['%{ldap:attr} absent', '=host=x%{ldap:mailHost}y', {}, { host: 'xy' }],
    ['%$', 'uid=login=%$@example.test', { uid: ['al'] }, { login: 'al@example.test' }],
    ['old prefix form', 'mailHost=host=imap.', { mailHost: ['one'] }, { host: 'imap.one' }],
    ['attr template skipped when absent', 'mailHost=host=%$:143', {}, {}],
    ['request variables', '=who=%n at %d', {}, { who: 'alice at example.test' }],
    ['%% stays a percent', '=pct=100%%', {}, { pct: '100%' }],
    ['%{ldap_dn}', '=dn=%{ldap_dn}', {}, { dn: 'uid=alice,ou=people,dc=example,dc=test' }],
    ['first of several values', 'mail=mail', { mail: ['a@x', 'b@x'] }, { mail: 'a@x' }],
    ['!attr: fetched, no field', '!mailHost', { mailHost: ['imap1'] }, {}],
    ['LDAP values are not expanded again', '=host=%{ldap:mailHost}, cn=name', { mailHost: ['%w'], cn: ['%{password}'] }, { host: '%w', name: '%{password}' }],
    ['__proto__ is never a field', 'cn=__proto__', { cn: ['x'] }, {}],
  ];
  for (const [what, attrs, values, fields] of cases) {
    it(what, () => assert.deepEqual({ ...fieldsOf(attrs, values).fields }, fields));
  }

  it('password gets default_pass_scheme only without its own; password_noscheme always', () => {
    assert.equal(fieldsOf('userPassword=password', { userPassword: ['{SSHA}abc'] }).password, '{SSHA}abc');
    assert.equal(fieldsOf('userPassword=password', { userPassword: ['$6$s$h'] }).password, '{CRYPT}$6$s$h');
    assert.equal(fieldsOf('userPassword=password', { userPassword: ['$1$s$h'] }).password, '$1$s$h');
    assert.equal(fieldsOf('userPassword=password_noscheme', { userPassword: ['{x}y'] }).password, '{CRYPT}{x}y');
    assert.equal(fieldsOf('userPassword=password', {}).password, null);
    const two = fieldsOf('userPassword=password, =password={PLAIN}x', { userPassword: ['{SSHA}abc', '{SSHA}def'] });
    assert.equal(two.password, '{SSHA}abc');
    assert.equal(two.warnings.length, 2);
    assert.ok(!('password' in two.fields));
  });

  it('under auth_bind the password field is dropped at parse time', () => {
    const pa = parsePassAttrs('uid=user, userPassword=password', 'password');
    assert.deepEqual(pa.request, ['uid']);
    assert.equal(entryFields(entry({ uid: ['alice'], userPassword: ['x'] }), pa, ctx, 'CRYPT').password, null);
  });

  it('rejects what postern does not do', () => {
    for (const bad of ['@mail=x', '=x=%{ldap_ptr:a}', '=x=%{ldap:}', '=x=%{ldap:a@b}', 'x=%n', '=x=%{nosuch}', 'uid=', '=x=%{ldap:a']) {
      assert.throws(() => parsePassAttrs(bad), { code: 'AUTH_CONFIG' }, bad);
    }
  });
});
