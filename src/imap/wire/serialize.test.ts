import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImapWireError } from './errors.js';
import fc from 'fast-check';
import { encodeAString, encodeString, formatCommand, formatCommandParts, formatIdList, quoted, type AStringEncoding } from './serialize.js';

const LP = { literalPlus: true };
const SYNC = { literalPlus: false };
const inline = (text: string): AStringEncoding => ({ kind: 'inline', text });
const lit = (header: string, bytes: string | Buffer): AStringEncoding => ({ kind: 'literal', header, bytes: Buffer.from(bytes) });

describe('encodeAString', () => {
  const cases: [string, string | Buffer, AStringEncoding, boolean?][] = [
    ['atom', 'user@example.com', inline('user@example.com')],
    ['"]" is an ASTRING-CHAR', 'a]b', inline('a]b')],
    ['space → quoted', 'a b', inline('"a b"')],
    ['empty → quoted', '', inline('""')],
    ['NIL → quoted', 'nil', inline('"nil"')],
    ['quote and backslash escaped', 'p"a\\ss', inline('"p\\"a\\\\ss"')],
    ['wildcards and parens → quoted', '(*%{', inline('"(*%{"')],
    ['8-bit → literal', 'pässword', lit('{9+}', 'pässword')],
    ['CRLF → literal', 'a\r\nb', lit('{4+}', 'a\r\nb')],
    ['sync literal without LITERAL+', Buffer.from([0xff]), lit('{1}', Buffer.from([0xff])), false],
  ];
  for (const [title, value, expected, plus = true] of cases) {
    it(title, () => assert.deepStrictEqual(encodeAString(value, plus ? LP : SYNC), expected));
  }

  it('refuses NUL', () => {
    assert.throws(() => encodeAString('a\0b', LP), (e: unknown) => e instanceof ImapWireError && e.code === 'IMAP_WIRE_UNENCODABLE');
  });
});

describe('quoted', () => {
  it('escapes and refuses what cannot be quoted', () => {
    assert.equal(quoted('a"b\\'), '"a\\"b\\\\"');
    assert.throws(() => quoted('a\nb'), ImapWireError);
    assert.throws(() => quoted('é'), ImapWireError);
  });
});

describe('formatCommand', () => {
  it('writes LOGIN', () => {
    const out = formatCommand('L', 'LOGIN', [{ kind: 'astring', value: 'user' }, { kind: 'astring', value: 'p w' }]);
    assert.equal(out.toString(), 'L LOGIN user "p w"\r\n');
  });

  it('writes the ID Dovecot sends to a backend (imap-proxy.c)', () => {
    const id = formatIdList([['x-session-id', 'abc'], ['x-originating-ip', '192.0.2.1'], ['x-proxy-ttl', '6'], ['x-forward-note', null]]);
    assert.equal(formatCommand('I', 'ID', [id]).toString(), 'I ID ("x-session-id" "abc" "x-originating-ip" "192.0.2.1" "x-proxy-ttl" "6" "x-forward-note" NIL)\r\n');
    assert.equal(formatCommand('I', 'ID', [formatIdList([])]).toString(), 'I ID NIL\r\n');
  });

  it('ID values that need a literal get one', () => {
    const out = formatCommand('I', 'ID', [formatIdList([['name', 'Mäil']])]);
    assert.equal(out.toString('utf8'), 'I ID ("name" {5+}\r\nMäil)\r\n');
  });

  it('writes AUTHENTICATE with an initial response', () => {
    assert.equal(formatCommand('L', 'AUTHENTICATE', [{ kind: 'atom', value: 'PLAIN' }, { kind: 'atom', value: 'AHUAcA==' }]).toString(), 'L AUTHENTICATE PLAIN AHUAcA==\r\n');
  });

  it('splits at synchronizing literals, and formatCommand refuses to hide that', () => {
    const args = [{ kind: 'astring', value: 'ü' }, { kind: 'astring', value: 'x\r' }] as const;
    const parts = formatCommandParts('L', 'LOGIN', args, SYNC).map((p) => p.toString('latin1'));
    assert.deepStrictEqual(parts, ['L LOGIN {2}\r\n', '\xc3\xbc {2}\r\n', 'x\r\r\n']);
    assert.throws(() => formatCommand('L', 'LOGIN', args, SYNC), (e: unknown) => e instanceof ImapWireError && e.code === 'IMAP_WIRE_SYNC_LITERAL');
  });

  it('refuses bad tags, names and atoms', () => {
    assert.throws(() => formatCommand('+', 'NOOP', []), ImapWireError);
    assert.throws(() => formatCommand('a b', 'NOOP', []), ImapWireError);
    assert.throws(() => formatCommand('a', 'NO OP', []), ImapWireError);
    assert.throws(() => formatCommand('a', 'X', [{ kind: 'atom', value: 'a b' }]), ImapWireError);
    for (const tag of ['', 'é', 'a\r', 'a{']) assert.throws(() => formatCommand(tag, 'NOOP', []), ImapWireError, JSON.stringify(tag));
    for (const name of ['', 'NOÖP', 'X]']) assert.throws(() => formatCommand('a', name, []), ImapWireError, JSON.stringify(name));
    for (const value of ['', 'é', 'a(', 'a"', '\u0100']) assert.throws(() => formatCommand('a', 'X', [{ kind: 'atom', value }]), ImapWireError, JSON.stringify(value));
    assert.equal(formatCommand('a]1', 'X', [{ kind: 'atom', value: '\\Seen' }, { kind: 'atom', value: '*%]' }]).toString(), 'a]1 X \\Seen *%]\r\n');
  });
});

describe('strings and their UTF-8 bytes', () => {
  const outcome = (f: () => unknown): unknown => {
    try {
      return f();
    } catch (e) {
      return e instanceof ImapWireError ? e.code : e;
    }
  };
  it('encode alike, whatever the characters', () => {
    const chars = fc.oneof(fc.constantFrom('"', '\\', '\r', '\n', '\0', ' ', ']', '(', '{', '%', '*', '+', 'é', '\u{1F600}', '\ud800'), fc.string({ unit: 'grapheme', maxLength: 1 }), fc.string({ maxLength: 1 }));
    fc.assert(
      fc.property(fc.array(chars, { maxLength: 12 }).map((a) => a.join('')), fc.boolean(), (s, literalPlus) => {
        const b = Buffer.from(s, 'utf8');
        const mode = { literalPlus };
        assert.deepStrictEqual(outcome(() => encodeAString(s, mode)), outcome(() => encodeAString(b, mode)));
        assert.deepStrictEqual(outcome(() => encodeString(s, mode)), outcome(() => encodeString(b, mode)));
        assert.deepStrictEqual(outcome(() => quoted(s)), outcome(() => quoted(b)));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('formatCommandParts: text or bytes', () => {
  it('writes the usual LOGIN and ID as text', () => {
    assert.equal(formatCommand('L', 'LOGIN', [{ kind: 'astring', value: 'user' }, { kind: 'astring', value: 'p"w' }]), 'L LOGIN user "p\\"w"\r\n');
    const id = formatCommand('I', 'ID', [formatIdList([['x-session-id', 'abc'], ['x-originating-ip', '192.0.2.1']])]);
    assert.equal(id, 'I ID ("x-session-id" "abc" "x-originating-ip" "192.0.2.1")\r\n');
  });

  it('gives bytes for a part with a literal, and text for one before it', () => {
    assert.ok(Buffer.isBuffer(formatCommand('L', 'LOGIN', [{ kind: 'astring', value: 'user' }, { kind: 'astring', value: 'pässword' }])));
    const parts = formatCommandParts('L', 'LOGIN', [{ kind: 'astring', value: 'ü' }, { kind: 'astring', value: 'x' }], SYNC);
    assert.deepStrictEqual(parts.map((p) => typeof p), ['string', 'object']);
  });

  it('is text exactly when no value needs a literal, for any values', () => {
    const value = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('NIL', 'nil', '', '"', '\\', 'a b', ']'));
    fc.assert(fc.property(value, value, fc.boolean(), (user, password, plus) => {
      const mode = { literalPlus: plus };
      let parts: (string | Buffer)[];
      try {
        parts = formatCommandParts('L', 'LOGIN', [{ kind: 'astring', value: user }, { kind: 'astring', value: password }], mode);
      } catch {
        assert.ok([user, password].some((v) => v.includes('\0')));
        return;
      }
      const literal = [user, password].some((v) => encodeAString(v, mode).kind === 'literal');
      if (!literal) assert.deepStrictEqual(parts.map((p) => typeof p), ['string']);
      else assert.ok(parts.some((p) => Buffer.isBuffer(p)));
    }), { numRuns: 500 });
  });
});
