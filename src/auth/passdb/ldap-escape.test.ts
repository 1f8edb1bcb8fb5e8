import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { AndFilter, EqualityFilter, FilterParser } from 'ldapts';
import { escapeDnValue, escapeFilterValue, filterForLdapts } from './ldap-escape.js';

/** The user name as the server will see it: the filter as ldapts encodes it. */
function assertionValue(filter: string): { filter: AndFilter; value: string } {
  const parsed = FilterParser.parseString(filterForLdapts(filter));
  assert.ok(parsed instanceof AndFilter, `still one AND: ${filter}`);
  assert.equal(parsed.filters.length, 2, `still two terms: ${filter}`);
  const eq = parsed.filters[1];
  assert.ok(eq instanceof EqualityFilter, `still an equality: ${filter}`);
  assert.equal(eq.attribute, 'uid');
  return { filter: parsed, value: String(eq.value) };
}

const inFilter = (name: string) => `(&(objectClass=posixAccount)(uid=${escapeFilterValue(name)}))`;

/** Splits a DN at unescaped commas and undoes RFC 4514 escapes in the first RDN's value. */
function firstRdnValue(dn: string): { rdns: number; value: string } {
  const rdns: string[] = [];
  let cur = '';
  for (let i = 0; i < dn.length; i++) {
    if (dn[i] === '\\') {
      const len = /^[0-9a-fA-F]{2}$/.test(dn.slice(i + 1, i + 3)) ? 3 : 2;
      cur += dn.slice(i, i + len);
      i += len - 1;
      continue;
    }
    if (dn[i] === ',') {
      rdns.push(cur);
      cur = '';
    } else cur += dn[i];
  }
  rdns.push(cur);
  const first = rdns[0]!;
  assert.ok(!/(^|[^\\])\+/.test(first), `no multi-valued RDN: ${dn}`);
  const eq = first.indexOf('=');
  const raw = first.slice(eq + 1);
  const bytes: number[] = [];
  for (const m of raw.matchAll(/\\([0-9a-fA-F]{2})|\\(.)|(.)/gsu)) {
    if (m[1] !== undefined) bytes.push(parseInt(m[1], 16));
    else bytes.push(...Buffer.from(m[2] ?? m[3]!, 'utf8'));
  }
  return { rdns: rdns.length, value: Buffer.from(bytes).toString('utf8') };
}

const HOSTILE: ReadonlyArray<[string, string, string]> = [
  // [input, filter escape, DN escape]
  ['alice', 'alice', 'alice'],
  ['*', '\\2a', '*'],
  [')(uid=*', '\\29\\28uid=\\2a', ')(uid\\3d*'],
  ['*)(|(objectClass=*', '\\2a\\29\\28|\\28objectClass=\\2a', '*)(|(objectClass\\3d*'],
  ['\\', '\\5c', '\\5c'],
  ['\\2a', '\\5c2a', '\\5c2a'],
  ['a\0b', 'a\\00b', 'a\\00b'],
  ['alice,ou=people', 'alice,ou=people', 'alice\\2cou\\3dpeople'],
  ['a+cn=b', 'a+cn=b', 'a\\2bcn\\3db'],
  ['"q";<x>', '"q";<x>', '\\22q\\22\\3b\\3cx\\3e'],
  [' lead', ' lead', '\\20lead'],
  ['trail ', 'trail ', 'trail\\20'],
  ['#hash', '#hash', '\\23hash'],
  [' ', ' ', '\\20'],
  ['', '', ''],
  ['jos\u00e9@d\u00f6main', 'jos\u00e9@d\u00f6main', 'jos\u00e9@d\u00f6main'],
];

describe('LDAP escaping', () => {
  for (const [input, filter, dn] of HOSTILE) {
    it(`escapes ${JSON.stringify(input)}`, () => {
      assert.equal(escapeFilterValue(input), filter);
      assert.equal(escapeDnValue(input), dn);
    });
  }

  it('a filter value is always exactly the user name, in one equality term', () => {
    for (const [input] of HOSTILE) assert.equal(assertionValue(inFilter(input)).value, input);
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (name) => {
        assert.equal(assertionValue(inFilter(name)).value, name);
      }),
      { numRuns: 2000 },
    );
  });

  it('a filter value never carries an unescaped *, (, ), \\ or NUL', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (name) => {
        assert.doesNotMatch(escapeFilterValue(name).replace(/\\[0-9a-f]{2}/g, ''), /[*()\\\0]/);
      }),
    );
  });

  it('a DN value is always exactly one RDN value', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (name) => {
        const dn = `uid=${escapeDnValue(name)},ou=people,dc=example,dc=test`;
        const r = firstRdnValue(dn);
        assert.equal(r.rdns, 4, dn);
        assert.equal(r.value, name);
        const v = escapeDnValue(name);
        assert.ok(!v.startsWith(' ') && !v.startsWith('#') && !v.endsWith(' '), dn);
      }),
      { numRuns: 2000 },
    );
  });

  it('hands ldapts UTF-8 escapes decoded, other escapes as they are', () => {
    assert.equal(filterForLdapts('(cn=Jos\\c3\\a9)'), '(cn=Jos\u00e9)');
    assert.equal(filterForLdapts('(cn=\\5c\\c3\\a9\\2a)'), '(cn=\\5c\u00e9\\2a)');
    assert.equal(filterForLdapts('(cn=\\2a\\28)'), '(cn=\\2a\\28)');
    assert.equal(filterForLdapts('(cn=\\ff\\fe)'), '(cn=\\ff\\fe)', 'not UTF-8: left alone');
    const f = FilterParser.parseString(filterForLdapts('(cn=Jos\\C3\\A9)'));
    assert.ok(f instanceof EqualityFilter);
    assert.equal(f.value, 'Jos\u00e9');
  });
});
