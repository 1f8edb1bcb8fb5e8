import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertSameAtEverySplit } from '../../../test/support/feed-harness.js';
import { LmtpReplyReader, type LmtpReplyResult } from './reply-reader.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
function read(input: string, limits = {}): LmtpReplyResult[] {
  return assertSameAtEverySplit(() => new LmtpReplyReader(limits), b(input));
}
const reply = (raw: string, code: number, lines: string[], enhanced?: string): LmtpReplyResult =>
  ({ kind: 'reply', reply: { code, lines, raw: b(raw), ...(enhanced !== undefined ? { enhanced } : {}) } });

describe('LmtpReplyReader', () => {
  it('single-line replies, with and without enhanced codes', () => {
    const input = '220 mx Dovecot ready.\r\n250 2.1.5 OK\r\n550 5.1.1 <u@x> User doesn\'t exist: u@x\r\n354 OK\r\n250\r\n';
    assert.deepStrictEqual(read(input), [
      reply('220 mx Dovecot ready.\r\n', 220, ['mx Dovecot ready.']),
      reply('250 2.1.5 OK\r\n', 250, ['OK'], '2.1.5'),
      reply('550 5.1.1 <u@x> User doesn\'t exist: u@x\r\n', 550, ['<u@x> User doesn\'t exist: u@x'], '5.1.1'),
      reply('354 OK\r\n', 354, ['OK']),
      reply('250\r\n', 250, ['']),
    ]);
  });
  it('a multi-line LHLO reply is one reply', () => {
    const raw = '250-mx\r\n250-8BITMIME\r\n250-XCLIENT ADDR PORT\r\n250 PIPELINING\r\n';
    assert.deepStrictEqual(read(`${raw}250 2.0.0 OK\r\n`), [reply(raw, 250, ['mx', '8BITMIME', 'XCLIENT ADDR PORT', 'PIPELINING']), reply('250 2.0.0 OK\r\n', 250, ['OK'], '2.0.0')]);
  });
  it('an enhanced code of another class is text', () => {
    assert.deepStrictEqual(read('451 2.0.0 odd\r\n'), [reply('451 2.0.0 odd\r\n', 451, ['2.0.0 odd'])]);
  });
  const fatal = (code: string, message: string): LmtpReplyResult => ({ kind: 'error', code: code as 'badReply', message, fatal: true });
  const bad: [string, string, LmtpReplyResult][] = [
    ['no code', 'hello\r\n', fatal('badReply', 'Invalid reply line')],
    ['code out of range', '650 x\r\n', fatal('badReply', 'Invalid reply line')],
    ['bad separator', '250x\r\n', fatal('badReply', 'Invalid reply line')],
    ['code changes mid-reply', '250-a\r\n251 b\r\n', fatal('badReply', 'Reply code changed within a multi-line reply')],
  ];
  for (const [title, input, expected] of bad) it(`fatal: ${title}, and stays failed`, () => {
    assert.deepStrictEqual(read(`${input}250 OK\r\n`), [expected]);
  });
  it('too long a line, too many lines', () => {
    assert.deepStrictEqual(read(`250 ${'x'.repeat(100)}\r\n`, { maxLineBytes: 64 }), [fatal('replyTooLong', 'Reply line too long')]);
    assert.deepStrictEqual(read('250-a\r\n'.repeat(5), { maxLines: 3 }), [fatal('replyTooLong', 'Too many reply lines')]);
  });
  it('never throws on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      const r = new LmtpReplyReader({ maxLineBytes: 64 });
      r.feed(bytes);
      for (let x = r.next(); x.kind === 'reply'; x = r.next());
    }));
  });
});
