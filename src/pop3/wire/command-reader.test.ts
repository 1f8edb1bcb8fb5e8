import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertSameAtEverySplit, collect } from '../../../test/support/feed-harness.js';
import { Pop3CommandReader, type Pop3ReadResult } from './command-reader.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const cmd = (name: string, args = ''): Pop3ReadResult => ({ kind: 'command', command: { name, args } });
const tooLong: Pop3ReadResult = { kind: 'error', code: 'lineTooLong', message: 'Line too long' };
const nul: Pop3ReadResult = { kind: 'error', code: 'nul', message: 'NUL in command line' };

function read(input: string | Buffer, maxLineBytes = 64): Pop3ReadResult[] {
  const bytes = typeof input === 'string' ? b(input) : input;
  return assertSameAtEverySplit(() => new Pop3CommandReader({ maxLineBytes }), bytes, { maxHeld: maxLineBytes });
}

describe('Pop3CommandReader: commands', () => {
  const cases: [string, string, Pop3ReadResult[]][] = [
    ['keyword alone', 'CAPA\r\n', [cmd('CAPA')]],
    ['keyword is upper-cased', 'capa\r\nStLs\r\n', [cmd('CAPA'), cmd('STLS')]],
    ['bare LF', 'QUIT\n', [cmd('QUIT')]],
    ['one argument', 'USER alice\r\n', [cmd('USER', 'alice')]],
    ['PASS keeps spaces, inner and trailing', 'PASS  pass word \r\n', [cmd('PASS', ' pass word ')]],
    ['AUTH with initial response', 'AUTH PLAIN AGFsaWNlAHB3\r\n', [cmd('AUTH', 'PLAIN AGFsaWNlAHB3')]],
    ['UTF-8 password', 'PASS p\xc3\xa4ss\r\n', [cmd('PASS', 'päss')]],
    ['empty line', '\r\n', [cmd('')]],
    ['CR inside a line stays', 'PASS a\rb\r\n', [cmd('PASS', 'a\rb')]],
    ['8-bit keyword is not folded', 'us\xe9r x\r\n', [cmd('US\xe9R', 'x')]],
    ['pipelined burst', 'USER a\r\nPASS b\r\nSTAT\r\nLIST\r\n', [cmd('USER', 'a'), cmd('PASS', 'b'), cmd('STAT'), cmd('LIST')]],
  ];
  for (const [title, input, expected] of cases) it(title, () => assert.deepStrictEqual(read(input), expected));

  it('an incomplete line waits', () => {
    const r = new Pop3CommandReader();
    r.feed(b('USER ali'));
    assert.deepStrictEqual(r.next(), { kind: 'needMore' });
    assert.equal(r.bufferedBytes, 8);
  });
});

describe('Pop3CommandReader: hostile input', () => {
  it('a line at the limit passes; one byte more is too long and skipped, the next line is read', () => {
    const atLimit = `PASS ${'x'.repeat(64 - 7)}\r\n`;
    assert.equal(atLimit.length, 64);
    assert.deepStrictEqual(read(atLimit), [cmd('PASS', 'x'.repeat(57))]);
    assert.deepStrictEqual(read(`PASS ${'x'.repeat(58)}\r\nQUIT\r\n`), [tooLong, cmd('QUIT')]);
  });

  it('a huge line without LF is reported once and never held', () => {
    const huge = Buffer.concat([b('PASS '), Buffer.alloc(10_000, 0x61), b('\r\nCAPA\r\n')]);
    assert.deepStrictEqual(read(huge), [tooLong, cmd('CAPA')]);
    const r = new Pop3CommandReader({ maxLineBytes: 64 });
    for (let i = 0; i < 1000; i++) {
      r.feed(Buffer.alloc(100, 0x61));
      const out = r.next();
      assert.ok(i === 0 ? out.kind === 'error' : out.kind === 'needMore');
      assert.ok(r.bufferedBytes <= 64);
    }
  });

  it('NUL anywhere in a line: that line is refused, the next one read', () => {
    assert.deepStrictEqual(read('US\0ER a\r\nPASS a\0b\r\nCAPA\r\n'), [nul, nul, cmd('CAPA')]);
  });

  it('nextLine gives raw SASL lines, including "*", and refuses NUL', () => {
    const r = new Pop3CommandReader();
    r.feed(b('AGEAYgBj\r\n*\n\0\r\nQUIT\r\n'));
    assert.deepStrictEqual(r.nextLine(), b('AGEAYgBj'));
    assert.deepStrictEqual(r.nextLine(), b('*'));
    assert.deepStrictEqual(r.nextLine(), nul);
    assert.deepStrictEqual(r.next(), cmd('QUIT'));
    assert.equal(r.nextLine(), 'needMore');
  });

  it('takeBuffered hands over what was pipelined after a command', () => {
    const r = new Pop3CommandReader();
    r.feed(b('PASS x\r\nSTAT\r\nRETR 1\r\n'));
    assert.deepStrictEqual(r.next(), cmd('PASS', 'x'));
    assert.deepStrictEqual(r.takeBuffered(), b('STAT\r\nRETR 1\r\n'));
    assert.equal(r.bufferedBytes, 0);
    assert.deepStrictEqual(r.next(), { kind: 'needMore' });
  });

  it('takeBuffered in the middle of a too long line forgets the skipping', () => {
    const r = new Pop3CommandReader({ maxLineBytes: 8 });
    r.feed(b('AAAAAAAAAAAA'));
    assert.equal(r.next().kind, 'error');
    r.takeBuffered();
    r.feed(b('QUIT\r\n'));
    assert.deepStrictEqual(r.next(), cmd('QUIT'));
  });
});

describe('Pop3CommandReader: properties', () => {
  const keyword = fc.constantFrom('USER', 'PASS', 'CAPA', 'AUTH', 'QUIT', 'STLS', 'XCLIENT', 'noop');
  const argText = fc.string({ unit: fc.constantFrom(...'abcxyz019 +/=.@-\xe4'), maxLength: 30 });
  const line = fc.tuple(keyword, fc.option(argText, { nil: undefined }), fc.boolean());

  it('any pipelined burst of well-formed lines reads back as sent, however it is cut', () => {
    fc.assert(
      fc.property(fc.array(line, { maxLength: 8 }), fc.array(fc.nat(400), { maxLength: 6 }), (lines, cuts) => {
        const text = lines.map(([k, a, crlf]) => `${k}${a === undefined ? '' : ` ${a}`}${crlf ? '\r\n' : '\n'}`).join('');
        const bytes = Buffer.from(text, 'utf8');
        const points = [...new Set(cuts.map((c) => c % (bytes.length + 1)))].sort((x, y) => x - y);
        const pieces = [0, ...points, bytes.length].slice(1).map((end, i, ends) => bytes.subarray(i === 0 ? 0 : ends[i - 1]!, end));
        const out = collect(new Pop3CommandReader(), pieces);
        assert.deepStrictEqual(out, lines.map(([k, a]) => cmd(k.toUpperCase(), a ?? '')));
      }),
    );
  });

  it('arbitrary bytes never throw, never hold more than the limit, and every result is well-formed', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 50 }), { maxLength: 20 }), (chunks) => {
        const out = collect(new Pop3CommandReader({ maxLineBytes: 32 }), chunks.map((c) => Buffer.from(c)), { maxHeld: 32 });
        for (const r of out) {
          if (r.kind === 'command') assert.ok(!r.command.name.includes(' ') && !r.command.name.includes('\n'));
          else assert.ok(r.kind === 'error' && (r.code === 'lineTooLong' || r.code === 'nul'));
        }
      }),
    );
  });
});
