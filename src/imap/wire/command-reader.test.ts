import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ImapCommandReader, type ReadResult } from './command-reader.js';
import { assertSameAtEverySplit, collect } from '../../../test/support/feed-harness.js';
import { DEFAULT_IMAP_WIRE_LIMITS, type ImapWireLimits } from './limits.js';
import { asAString, type ImapValue } from './values.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const atom = (value: string): ImapValue => ({ type: 'atom', value });
const str = (value: string, literal = false): ImapValue => ({ type: 'string', value: b(value), literal });
const list = (...items: ImapValue[]): ImapValue => ({ type: 'list', items });
const cmd = (tag: string, name: string, ...args: ImapValue[]): ReadResult => ({ kind: 'command', command: { tag, name, args } });
const err = (code: string, message: string, tag?: string, fatal = false): ReadResult =>
  (tag === undefined ? { kind: 'error', code, message, fatal } : { kind: 'error', code, tag, message, fatal }) as ReadResult;
const CONTINUE: ReadResult = { kind: 'continue' };

function read(input: string | Buffer, limits?: Partial<ImapWireLimits>): ReadResult[] {
  const all = { ...DEFAULT_IMAP_WIRE_LIMITS, ...limits };
  return assertSameAtEverySplit(() => new ImapCommandReader(limits), typeof input === 'string' ? b(input) : input, { maxHeld: all.maxLineBytes });
}

describe('ImapCommandReader: well-formed commands', () => {
  const cases: [string, string, ReadResult[]][] = [
    ['simple', 'a1 NOOP\r\n', [cmd('a1', 'NOOP')]],
    ['name is upper-cased', 'a1 capability\r\n', [cmd('a1', 'CAPABILITY')]],
    ['bare LF', 'a1 NOOP\n', [cmd('a1', 'NOOP')]],
    ['LOGIN with atoms', 'a LOGIN user pass\r\n', [cmd('a', 'LOGIN', atom('user'), atom('pass'))]],
    ['quoted with escapes', 'a LOGIN "us er" "p\\"a\\\\ss"\r\n', [cmd('a', 'LOGIN', str('us er'), str('p"a\\ss'))]],
    ['empty quoted', 'a LOGIN "" ""\r\n', [cmd('a', 'LOGIN', str(''), str(''))]],
    ['8-bit quoted (UTF-8 password)', 'a LOGIN u "p\xc3\xa4ss"\r\n', [cmd('a', 'LOGIN', atom('u'), str('p\xc3\xa4ss'))]],
    ['sync literal', 'a LOGIN {4}\r\nuser {2}\r\npw\r\n', [CONTINUE, CONTINUE, cmd('a', 'LOGIN', str('user', true), str('pw', true))]],
    ['LITERAL+', 'a LOGIN {4+}\r\nuser {2+}\r\npw\r\n', [cmd('a', 'LOGIN', str('user', true), str('pw', true))]],
    ['empty literal', 'a LOGIN {0+}\r\n x\r\n', [cmd('a', 'LOGIN', str('', true), atom('x'))]],
    ['literal holding CRLF and quotes', 'a LOGIN u {5+}\r\n"\r\n)\\\r\n', [cmd('a', 'LOGIN', atom('u'), str('"\r\n)\\', true))]],
    ['ID list', 'i ID ("name" "x" "version" NIL)\r\n', [cmd('i', 'ID', list(str('name'), str('x'), str('version'), { type: 'nil', atom: 'NIL' }))]],
    ['ID NIL', 'i ID nil\r\n', [cmd('i', 'ID', { type: 'nil', atom: 'nil' })]],
    ['literal inside a list', 'i ID ("k" {1+}\r\nv)\r\n', [cmd('i', 'ID', list(str('k'), str('v', true)))]],
    ['nested and empty lists', 'a X (() (a (b)))\r\n', [cmd('a', 'X', list(list(), list(atom('a'), list(atom('b')))))]],
    ['extra spaces, as Dovecot allows', 'a  LOGIN\r\n'.replace('  ', ' ') + 'b X  a   ( x )  \r\n', [cmd('a', 'LOGIN'), cmd('b', 'X', atom('a'), list(atom('x')))]],
    ['atoms Dovecot lets through', 'a X \\Seen * % ] [x] ~x\r\n', [cmd('a', 'X', atom('\\Seen'), atom('*'), atom('%'), atom(']'), atom('[x]'), atom('~x'))]],
    ['SASL-IR', 'a AUTHENTICATE PLAIN AHVzZXIAcGFzcw==\r\n', [cmd('a', 'AUTHENTICATE', atom('PLAIN'), atom('AHVzZXIAcGFzcw=='))]],
    ['pipelined', 'a NOOP\r\nb NOOP\r\nc LOGOUT\r\n', [cmd('a', 'NOOP'), cmd('b', 'NOOP'), cmd('c', 'LOGOUT')]],
    ['tag with "]" and "."', 'a.1] NOOP\r\n', [cmd('a.1]', 'NOOP')]],
  ];
  for (const [title, input, expected] of cases) {
    it(title, () => assert.deepStrictEqual(read(input), expected));
  }

  it('keeps the spelling of NIL so an astring reads it as a name', () => {
    const [r] = read('a LOGIN nil x\r\n');
    assert.ok(r?.kind === 'command');
    assert.equal(asAString(r.command.args[0])?.toString(), 'nil');
  });
});

describe('ImapCommandReader: errors', () => {
  const cases: [string, string, ReadResult[], Partial<ImapWireLimits>?][] = [
    ['empty lines (Dovecot counts them as bad)', '\r\n\n', [err('syntax', 'Empty command line'), err('syntax', 'Empty command line')]],
    ['tag alone', 'a\r\nb NOOP\r\n', [err('syntax', 'Missing command name', 'a'), cmd('b', 'NOOP')]],
    ['"+" tag', '+ NOOP\r\n', [err('badTag', 'Invalid tag')]],
    ['"*" tag', '* NOOP\r\n', [err('badTag', 'Invalid tag')]],
    ['NUL in tag', 'a\0b NOOP\r\nc NOOP\r\n', [err('badTag', 'Invalid tag'), cmd('c', 'NOOP')]],
    ['NUL in atom', 'a LOGIN u\0 p\r\n', [err('syntax', 'Invalid characters in atom', 'a')]],
    ['NUL in quoted', 'a LOGIN "u\0" p\r\n', [err('syntax', 'NULs not allowed in strings', 'a')]],
    ['NUL in literal', 'a LOGIN {2+}\r\nu\0 p\r\nb NOOP\r\n', [err('syntax', 'NULs not allowed in literals', 'a'), cmd('b', 'NOOP')]],
    ['8-bit atom', 'a LOGIN \xe4 p\r\n', [err('syntax', '8bit data in atom', 'a')]],
    ['unterminated quote', 'a LOGIN "foo\r\nb NOOP\r\n', [err('syntax', `Missing '"'`, 'a'), cmd('b', 'NOOP')]],
    ['bad escape', 'a LOGIN "\\n" x\r\n', [err('syntax', 'Invalid escape in quoted string', 'a')]],
    ['CR inside a line', 'a LOGIN "x\ry" z\r\n', [err('syntax', `Missing '"'`, 'a')]],
    ['stray ")"', 'a X )\r\n', [err('syntax', "Unexpected ')'", 'a')]],
    ['missing ")"', 'a ID ("a" "b"\r\n', [err('syntax', "Missing ')'", 'a')]],
    ['glued values', 'a X "a""b"\r\n', [err('syntax', 'Missing space between arguments', 'a')]],
    ['bad command name', 'a LO(GIN\r\n', [err('syntax', 'Invalid command name', 'a')]],
    ['{-1}', 'a LOGIN {-1}\r\nb NOOP\r\n', [err('syntax', 'Invalid literal size', 'a'), cmd('b', 'NOOP')]],
    ['{}', 'a LOGIN {}\r\n', [err('syntax', 'Invalid literal size', 'a')]],
    ['{1+x}', 'a LOGIN {1+x}\r\n', [err('syntax', "Expecting '}' after '+'", 'a')]],
    ['text after literal header', 'a LOGIN {3}abc\r\n', [err('syntax', 'Missing LF after literal size', 'a')]],
    ['literal8', 'a LOGIN ~{3}\r\n', [err('syntax', 'literal8 not allowed here', 'a')]],
    ['{4294967296} sync: BAD, no "+", next command read', 'a LOGIN {4294967296}\r\nb NOOP\r\n', [err('literalTooLarge', 'Literal size too large', 'a'), cmd('b', 'NOOP')]],
    ['{9999999999999999999999} sync', 'a LOGIN {9999999999999999999999}\r\nb NOOP\r\n', [err('literalTooLarge', 'Literal size too large', 'a'), cmd('b', 'NOOP')]],
    ['{4294967296+} is fatal', 'a LOGIN {4294967296+}\r\nb NOOP\r\n', [err('literalTooLarge', 'Literal size too large', 'a', true)]],
    ['{9999999999999999999999+} is fatal', 'a LOGIN {9999999999999999999999+}\r\n', [err('literalTooLarge', 'Literal size too large', 'a', true)]],
    ['literal one over the limit', 'a LOGIN {9}\r\nb NOOP\r\n', [err('literalTooLarge', 'Literal size too large', 'a'), cmd('b', 'NOOP')], { maxLiteralBytes: 8 }],
    ['literal at the limit', 'a LOGIN {8+}\r\n12345678\r\n', [cmd('a', 'LOGIN', str('12345678', true))], { maxLiteralBytes: 8 }],
    ['LITERAL+ after an error is skipped, not read as commands', 'a LOGIN "x {3+}\r\nc Z\r\nb NOOP\r\n', [err('syntax', `Missing '"'`, 'a'), cmd('b', 'NOOP')]],
    ['error, then a too large LITERAL+ ending the line', 'a LOGIN "x {99+}\r\n', [err('syntax', `Missing '"'`, 'a'), err('literalTooLarge', 'Literal size too large', undefined, true)], { maxLiteralBytes: 16 }],
    ['error in a later segment skips the rest', 'a LOGIN {1+}\r\nx ) {2+}\r\n\r\n {0+}\r\n\r\nb NOOP\r\n', [err('syntax', "Unexpected ')'", 'a'), cmd('b', 'NOOP')]],
    ['too many args', 'a X 1 2 3 4\r\nb X 1 2 3\r\n', [err('tooManyArgs', 'Too many arguments', 'a'), cmd('b', 'X', atom('1'), atom('2'), atom('3'))], { maxArgs: 3 }],
    ['lists count as args', 'a X (1 2)\r\n', [err('tooManyArgs', 'Too many arguments', 'a')], { maxArgs: 2 }],
    ['nesting at the limit', 'a X ((x))\r\n', [cmd('a', 'X', list(list(atom('x'))))], { maxListDepth: 2 }],
    ['nesting over the limit', 'a X (((x)))\r\nb NOOP\r\n', [err('nestingTooDeep', 'Too deeply nested lists', 'a'), cmd('b', 'NOOP')], { maxListDepth: 2 }],
    ['tag at the limit', 'abcd X\r\n', [cmd('abcd', 'X')], { maxTagBytes: 4 }],
    ['tag over the limit is not echoed', 'abcde X\r\n', [err('badTag', 'Invalid tag')], { maxTagBytes: 4 }],
    ['line at the limit', 'a X 12345678\r\n', [cmd('a', 'X', atom('12345678'))], { maxLineBytes: 14 }],
    ['line over the limit', 'a X 123456789\r\nb NOOP\r\n', [err('lineTooLong', 'IMAP command line too large', 'a'), cmd('b', 'NOOP')], { maxLineBytes: 14 }],
    ['literal counts into the line', 'a X {6}\r\nb NOOP\r\n', [err('literalTooLarge', 'Literal size too large', 'a'), cmd('b', 'NOOP')], { maxLineBytes: 14 }],
    ['long line ending in LITERAL+: its bytes are skipped', `a X ${'y'.repeat(40)} {4+}\r\nc Z\r\nb NOOP\r\n`, [err('lineTooLong', 'IMAP command line too large', 'a'), cmd('b', 'NOOP')], { maxLineBytes: 32 }],
    ['long line ending in a too large LITERAL+', `a X ${'y'.repeat(40)} {40+}\r\n`, [err('lineTooLong', 'IMAP command line too large', 'a'), err('literalTooLarge', 'Literal size too large', undefined, true)], { maxLineBytes: 32, maxLiteralBytes: 16 }],
    ['long line without a valid tag', `${'y'.repeat(40)}\r\n`, [err('lineTooLong', 'IMAP command line too large')], { maxLineBytes: 32 }],
  ];
  for (const [title, input, expected, limits] of cases) {
    it(title, () => assert.deepStrictEqual(read(input, limits), expected));
  }
});

describe('ImapCommandReader: hostile input', () => {
  it('1 MB line without CRLF: one error, memory stays small, then resynchronises', () => {
    const r = new ImapCommandReader();
    const chunk = Buffer.alloc(64 * 1024, 0x78);
    const out = collect(r, [b('a LOGIN '), ...Array.from({ length: 16 }, () => chunk)], { maxHeld: DEFAULT_IMAP_WIRE_LIMITS.maxLineBytes });
    assert.deepStrictEqual(out, [err('lineTooLong', 'IMAP command line too large', 'a')]);
    assert.ok(r.bufferedBytes <= 32);
    assert.deepStrictEqual(collect(r, [b('\r\nb NOOP\r\n')]), [cmd('b', 'NOOP')]);
  });

  it('1 MB line: same result wherever it is cut', () => {
    const input = Buffer.concat([b('a LOGIN '), Buffer.alloc(1024 * 1024, 0x78), b('\r\nb NOOP\r\n')]);
    assert.deepStrictEqual(read(input), [err('lineTooLong', 'IMAP command line too large', 'a'), cmd('b', 'NOOP')]);
  });

  it('only CRLFs', () => {
    assert.deepStrictEqual(read('\r\n'.repeat(50)), Array.from({ length: 50 }, () => err('syntax', 'Empty command line')));
  });

  it('10 000 nested parentheses', () => {
    assert.deepStrictEqual(read(`a ID ${'('.repeat(10_000)}${')'.repeat(10_000)}\r\nb NOOP\r\n`), [err('nestingTooDeep', 'Too deeply nested lists', 'a'), cmd('b', 'NOOP')]);
  });

  it('30 000 arguments', () => {
    assert.deepStrictEqual(read(`a X ${'a '.repeat(30_000)}\r\nb NOOP\r\n`), [err('tooManyArgs', 'Too many arguments', 'a'), cmd('b', 'NOOP')]);
  });

  it('a flood of literal headers', () => {
    assert.deepStrictEqual(read(`a X ${'{0+}\r\n '.repeat(200)}\r\n`), [err('tooManyArgs', 'Too many arguments', 'a')]);
  });

  it('keeps returning a fatal error', () => {
    const r = new ImapCommandReader();
    r.feed(b('a LOGIN {99999+}\r\nb NOOP\r\n'));
    const first = r.next();
    assert.equal(first.kind === 'error' && first.fatal, true);
    assert.deepStrictEqual(r.next(), first);
    assert.deepStrictEqual(r.nextLine(), first);
  });
});

describe('ImapCommandReader.nextLine (SASL responses)', () => {
  it('returns raw lines without CRLF, bare LF too, and "*"', () => {
    const r = new ImapCommandReader();
    r.feed(b('dGVzdA=='));
    assert.equal(r.nextLine(), 'needMore');
    r.feed(b('\r\n*\n\r\na NOOP\r\n'));
    assert.deepStrictEqual(r.nextLine(), b('dGVzdA=='));
    assert.deepStrictEqual(r.nextLine(), b('*'));
    assert.deepStrictEqual(r.nextLine(), b(''));
    assert.deepStrictEqual(r.next(), cmd('a', 'NOOP'));
  });

  it('a line over the limit is fatal, with or without its LF', () => {
    for (const input of ['x'.repeat(20), `${'x'.repeat(20)}\r\n`]) {
      const r = new ImapCommandReader({ maxLineBytes: 16 });
      r.feed(b(input));
      assert.deepStrictEqual(r.nextLine(), err('lineTooLong', 'Line too long', undefined, true));
    }
  });

  it('refuses NUL, and is refused mid-command', () => {
    const r = new ImapCommandReader();
    r.feed(b('a\0\r\nb LOGIN {3}\r\n'));
    assert.deepStrictEqual(r.nextLine(), err('syntax', 'NULs not allowed in line'));
    assert.deepStrictEqual(r.next(), CONTINUE);
    const e = r.nextLine();
    assert.ok(typeof e === 'object' && !Buffer.isBuffer(e) && e.fatal);
  });
});

describe('ImapCommandReader.takeBuffered', () => {
  it('hands over what follows a command (pipelined after LOGIN, or injected after STARTTLS)', () => {
    const r = new ImapCommandReader();
    r.feed(b('a STARTTLS\r\nb LOGIN x y\r\n'));
    assert.deepStrictEqual(r.next(), cmd('a', 'STARTTLS'));
    assert.deepStrictEqual(r.takeBuffered(), b('b LOGIN x y\r\n'));
    assert.equal(r.bufferedBytes, 0);
    assert.deepStrictEqual(r.next(), { kind: 'needMore' });
  });
});
