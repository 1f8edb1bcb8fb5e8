import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import fc from 'fast-check';
import { makeAuthRequest } from '../testing.js';
import { varContextFromRequest } from '../vars.js';
import {
  bindValues,
  compileQuery,
  escapeMysql,
  escapeQuoteDoubling,
  escapeValues,
  MAX_VALUE_CHARS,
  pgsqlUnquotedUser,
  refuseValue,
  type BuildResult,
} from './sql-query.js';
import type { SqlDriverName } from './sql-settings.js';

const ctx = (user: string, password = 'pw') => varContextFromRequest(makeAuthRequest({ user, password }));

function build(template: string, dialect: SqlDriverName, user: string): BuildResult {
  const q = compileQuery(template, dialect);
  return q.bound ? bindValues({ ...q, bound: q.bound }, ctx(user)) : escapeValues(q, ctx(user));
}

const Q1 = "SELECT NULL AS password, 'Y' as nopassword, host, destuser, 'Y' AS proxy FROM proxy WHERE user = '%u'";
const Q2 = "SELECT concat(user, '@', domain) AS user, password, host, 'Y' AS proxy_maybe FROM users WHERE user = '%n' AND domain = '%d'";

describe('sql password_query: bind parameters', () => {
  const cases: ReadonlyArray<[SqlDriverName, string, string, string[]]> = [
    ['sqlite', Q1, "SELECT NULL AS password, 'Y' as nopassword, host, destuser, 'Y' AS proxy FROM proxy WHERE user = ?", ['a@b']],
    ['pgsql', Q2, "SELECT concat(user, '@', domain) AS user, password, host, 'Y' AS proxy_maybe FROM users WHERE user = $1 AND domain = $2", ['a', 'b']],
    ['mysql', Q2, "SELECT concat(user, '@', domain) AS user, password, host, 'Y' AS proxy_maybe FROM users WHERE user = ? AND domain = ?", ['a', 'b']],
    ['pgsql', "SELECT * FROM domain_mapping('%u')", 'SELECT * FROM domain_mapping($1)', ['a@b']],
    ['pgsql', "SELECT password FROM t WHERE u = E'%Lu' AND x = '100%%'", "SELECT password FROM t WHERE u = $1 AND x = '100%'", ['a@b']],
    ['pgsql', 'SELECT password FROM t WHERE u = $x$%u$x$', 'SELECT password FROM t WHERE u = $1', ['a@b']],
    ['mysql', 'SELECT password FROM t WHERE u = "%u" -- %n\n', 'SELECT password FROM t WHERE u = ? -- \n', ['a@b']],
    ['mysql', "SELECT password FROM t WHERE u = '%{user}' AND s = '%s' AND r = '%{rip}'", 'SELECT password FROM t WHERE u = ? AND s = ? AND r = ?', ['a@b', 'imap', '192.0.2.10']],
    ['sqlite', "SELECT password, 'it''s %%' AS note FROM t WHERE u = '%u'", "SELECT password, 'it''s %' AS note FROM t WHERE u = ?", ['a@b']],
  ];
  for (const [dialect, template, sql, params] of cases) {
    it(`${dialect}: ${template.replace(/\n/g, '\\n')}`, () => {
      const q = compileQuery(template, dialect);
      if (template.includes('-- %n')) {
        // A variable in a comment forces escaping; the comment's value is dropped.
        assert.equal(q.bound, undefined);
        assert.deepEqual(escapeValues(q, ctx('a@b')), { sql: 'SELECT password FROM t WHERE u = "a@b" -- \n', params: [] });
        return;
      }
      assert.deepEqual(bindValues({ ...q, bound: q.bound! }, ctx('a@b')), { sql, params });
    });
  }
});

describe('sql password_query: escaping where a variable is part of a larger string', () => {
  const cases: ReadonlyArray<[SqlDriverName, string, string, string]> = [
    ['sqlite', "SELECT password FROM t WHERE e = '%n@%d'", "x' OR '1'='1@d", "SELECT password FROM t WHERE e = 'x'' OR ''1''=''1@d'"],
    ['pgsql', "SELECT password FROM t WHERE e = 'u:%u'", "x' OR '1'='1", "SELECT password FROM t WHERE e = 'u:x'' OR ''1''=''1'"],
    ['pgsql', "SELECT password FROM t WHERE e = E'u:%u'", "x\\' OR 1=1", "SELECT password FROM t WHERE e = E'u:x\\\\'' OR 1=1'"],
    ['mysql', "SELECT password FROM t WHERE e = 'u:%u'", "x\\' OR 1=1 -- ", "SELECT password FROM t WHERE e = 'u:x\\\\'' OR 1=1 -- '"],
    ['mysql', 'SELECT password FROM t WHERE e = "u:%u"', 'x" OR "1"="1\'', 'SELECT password FROM t WHERE e = "u:x"" OR ""1""=""1\\\'"'],
    ['sqlite', 'SELECT password FROM "t_%d" WHERE u = \'%u\'', 'a@x"y', 'SELECT password FROM "t_x""y" WHERE u = \'a@x"y\''],
    ['mysql', "SELECT password FROM t WHERE id = %n", 'alice.b_2', "SELECT password FROM t WHERE id = alice.b_2"],
  ];
  for (const [dialect, template, user, sql] of cases) {
    it(`${dialect}: ${template} with ${JSON.stringify(user)}`, () => {
      const q = compileQuery(template, dialect);
      assert.equal(q.bound, undefined);
      assert.deepEqual(escapeValues(q, ctx(user)), { sql, params: [] });
    });
  }
});

describe('sql password_query: hostile values are refused before any query', () => {
  const templates: ReadonlyArray<[SqlDriverName, string]> = [
    ['sqlite', Q1],
    ['mysql', Q2],
    ['pgsql', "SELECT password FROM t WHERE e = 'u:%u'"],
    ['mysql', "SELECT password FROM t WHERE e = 'u:%u'"],
  ];
  const hostile: ReadonlyArray<[string, string, string]> = [
    ['NUL', 'alice\0@example.com', 'NUL'],
    ['300 KB', 'a'.repeat(300 * 1024), 'longer'],
    ['a lone surrogate', 'al\uD800ice', 'well-formed'],
  ];
  for (const [dialect, template] of templates) {
    for (const [what, user, why] of hostile) {
      it(`${dialect} ${template.slice(0, 40)}…: ${what}`, () => {
        const r = build(template, dialect, user);
        assert.ok('refused' in r && r.refused.includes(why), JSON.stringify(r).slice(0, 200));
      });
    }
  }
  it('outside quotes only letters, digits and _.@ pass', () => {
    for (const user of ["1 OR 1=1", "a'b", 'a-- ', 'a;DROP', 'a%', 'a\\b', '']) {
      const r = build('SELECT password FROM t WHERE id = %u', 'mysql', user);
      if (user === '') assert.deepEqual(r, { sql: 'SELECT password FROM t WHERE id = ', params: [] });
      else assert.ok('refused' in r, user);
    }
  });
  it('a backslash is refused inside a PostgreSQL standard string, kept in E strings', () => {
    assert.ok('refused' in build("SELECT password FROM t WHERE e = 'u:%u'", 'pgsql', 'a\\b'));
    assert.ok(!('refused' in build("SELECT password FROM t WHERE e = E'u:%u'", 'pgsql', 'a\\b')));
  });
  it('a $ is refused inside a $$ string that holds more than the variable', () => {
    assert.throws(() => compileQuery('SELECT password FROM t WHERE e = $$u:%u$$', 'pgsql'), { code: 'AUTH_CONFIG' });
  });
  it('the password is a value like any other', () => {
    assert.equal(refuseValue('x'.repeat(MAX_VALUE_CHARS)), undefined);
    assert.match(refuseValue('x'.repeat(MAX_VALUE_CHARS + 1)) ?? '', /longer/);
    const q = compileQuery("SELECT password FROM t WHERE u = '%u' AND p = '%w'", 'sqlite');
    assert.deepEqual(bindValues({ ...q, bound: q.bound! }, ctx('a', "p'w")), { sql: 'SELECT password FROM t WHERE u = ? AND p = ?', params: ['a', "p'w"] });
  });
});

describe('sql password_query: reading the template', () => {
  it('refuses unknown variables and unterminated quotes', () => {
    for (const t of ["SELECT password FROM t WHERE u = '%x'", "SELECT password FROM t WHERE u = '%u", 'SELECT password /* x', "SELECT %{nosuch} AS password"]) {
      assert.throws(() => compileQuery(t, 'sqlite'), { code: 'AUTH_CONFIG' }, t);
    }
  });
  it('does not bind a literal glued to a prefix (N\'…\', _utf8\'…\')', () => {
    const q = compileQuery("SELECT password FROM t WHERE u = _utf8'%u'", 'mysql');
    assert.equal(q.bound, undefined);
    assert.deepEqual(escapeValues(q, ctx("a'b")), { sql: "SELECT password FROM t WHERE u = _utf8'a''b'", params: [] });
  });
  it('mysql: -- without a blank is not a comment, # is', () => {
    assert.equal(compileQuery("SELECT password FROM t WHERE a = 1--'%u'", 'mysql').bound?.sql, 'SELECT password FROM t WHERE a = 1--?');
    assert.equal(compileQuery("SELECT password FROM t # '%u'\nWHERE u = '%u'", 'mysql').bound, undefined);
  });
  it('finds the PostgreSQL `user` trap of Dovecot\'s MySQL-minded examples', () => {
    assert.equal(pgsqlUnquotedUser(compileQuery(Q1, 'pgsql')), true);
    assert.equal(pgsqlUnquotedUser(compileQuery(Q2, 'pgsql')), true);
    assert.equal(pgsqlUnquotedUser(compileQuery(Q1, 'mysql')), false);
    for (const ok of ['SELECT password, "user" FROM t WHERE "user" = \'%u\'', "SELECT x AS user, username, users.password FROM users WHERE t.user = '%u' AND current_user = 'x'"]) {
      assert.equal(pgsqlUnquotedUser(compileQuery(ok, 'pgsql')), false, ok);
    }
  });
});

describe('sql escaping functions', () => {
  it('mysql_real_escape_string, with the delimiter doubled', () => {
    assert.equal(escapeMysql('a\0b\nc\rd\\e\'f"g\x1ah'), 'a\\0b\\nc\\rd\\\\e\'\'f\\"g\\Zh');
    assert.equal(escapeMysql('\'"', '"'), '\\\'""');
    assert.equal(escapeQuoteDoubling("it's"), "it''s");
  });
  it('property: an escaped value comes back unchanged from SQLite', () => {
    const db = new Database(':memory:');
    try {
      const q = compileQuery("SELECT 'v:%u' AS v, \"t_%u\" AS password FROM (SELECT 1 AS \"t_%u\")", 'sqlite');
      fc.assert(
        fc.property(fc.string({ unit: 'grapheme', maxLength: 40 }), (user) => {
          const r = escapeValues(q, ctx(user));
          if ('refused' in r) return user.includes('\0');
          const row = db.prepare(r.sql).get() as { v: string } | undefined;
          return row?.v === `v:${user}`;
        }),
        { numRuns: 300 },
      );
    } finally {
      db.close();
    }
  });
});
