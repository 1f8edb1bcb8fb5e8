import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readDovecotConf, type ConfReader } from './dovecot-conf-file.js';

const files = (map: Record<string, string>): ConfReader => (p) => map[p];
const values = (text: string, more: Record<string, string> = {}, env: Record<string, string> = {}) =>
  Object.fromEntries([...readDovecotConf('/etc/d/x.conf.ext', files({ '/etc/d/x.conf.ext': text, ...more }), { env })].map(([k, v]) => [k, v.value]));

describe('Dovecot settings files (settings_read_nosection)', () => {
  it('reads a dovecot-sql.conf.ext as Dovecot does', () => {
    const text = [
      '# This file is commonly accessed via passdb {} or userdb {} section in',
      '',
      '   driver = pgsql',
      'connect = host=db1 host=db2 \\',
      '          dbname=mail user=dovecot password=s3#cret',
      '#default_pass_scheme = MD5',
      'default_pass_scheme = SHA512-CRYPT # a comment',
      'password_query = \\',
      '  SELECT userid AS user, password, \\',
      '  # a comment line inside a continuation is skipped',
      "    'Y' AS proxy, '#' AS hash \\",
      "  FROM users WHERE userid = '%u'",
      'quoted = "a \\"b\\" \\\\ c"',
      "single = 'x # y'",
      'empty =',
      'dict {',
      '  ignored = yes',
      '}',
    ].join('\n');
    assert.deepEqual(values(text), {
      driver: 'pgsql',
      // As Dovecot: a '#' even without a blank before it starts a comment.
      connect: 'host=db1 host=db2 dbname=mail user=dovecot password=s3',
      default_pass_scheme: 'SHA512-CRYPT',
      password_query: "SELECT userid AS user, password, 'Y' AS proxy, '#' AS hash FROM users WHERE userid = '%u'",
      quoted: 'a "b" \\ c',
      single: 'x # y',
      empty: '',
    });
  });
  it('expands $ENV:NAME in unquoted values, at the start or after a blank only', () => {
    const env = { DBPASS: 'password=pw', DB: 'host=db' };
    assert.deepEqual(values('connect = $ENV:DB $ENV:DBPASS dbname=x\nq = "$ENV:DB"\nr = password=$ENV:DBPASS', {}, env), {
      connect: 'host=db password=pw dbname=x',
      q: '$ENV:DB',
      r: 'password=$ENV:DBPASS',
    });
  });
  it('follows !include and !include_try relative to the including file; later keys win', () => {
    const v = values('driver = mysql\n!include inc/more.conf\n!include_try missing.conf\nconnect = host=b', {
      '/etc/d/inc/more.conf': 'connect = host=a\npassword_query = SELECT 1',
    });
    assert.deepEqual(v, { driver: 'mysql', connect: 'host=b', password_query: 'SELECT 1' });
  });
  const bad: ReadonlyArray<[string, string, RegExp]> = [
    ['no equals sign', 'driver pgsql', /line 1: expecting '='/],
    ['a stray brace', 'driver = x\n}', /line 2: unexpected '}'/],
    ['an unclosed section', 'a {\nb = c', /missing }/],
    ['a missing include', '!include nope.conf', /couldn't open include file \/etc\/d\/nope.conf/],
    ['a recursive include', '!include x.conf.ext', /recursive include/],
    ['a glob include', '!include *.conf', /glob/],
  ];
  for (const [what, text, message] of bad) {
    it(`refuses ${what}`, () => assert.throws(() => values(text), (e: Error & { code?: string }) => e.code === 'AUTH_CONFIG' && message.test(e.message)));
  }
  it('a missing file is an error', () => {
    assert.throws(() => readDovecotConf('/nope', files({})), { code: 'AUTH_CONFIG' });
  });
});
