import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertSameAtEverySplit, collect } from '../../../test/support/feed-harness.js';
import { Pop3ResponseReader, parsePop3Response, type Pop3ResponseResult } from './response-reader.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function read(input: string, maxLineBytes?: number): Pop3ResponseResult[] {
  return assertSameAtEverySplit(() => new Pop3ResponseReader(maxLineBytes ? { maxLineBytes } : {}), b(input));
}

const parsed = (line: string) => {
  const r = parsePop3Response(b(`${line}\r\n`));
  return { status: r.status, code: r.code, text: r.text };
};

describe('parsePop3Response', () => {
  const cases: [string, { status: string; code: string | undefined; text: string }][] = [
    ['+OK Dovecot ready.', { status: 'ok', code: undefined, text: 'Dovecot ready.' }],
    ['+OK [XCLIENT] Dovecot ready.', { status: 'ok', code: 'XCLIENT', text: 'Dovecot ready.' }],
    ['+OK', { status: 'ok', code: undefined, text: '' }],
    ['-ERR [SYS/TEMP] Account is temporarily unavailable.', { status: 'err', code: 'SYS/TEMP', text: 'Account is temporarily unavailable.' }],
    ['-ERR [in-use] Mailbox locked', { status: 'err', code: 'IN-USE', text: 'Mailbox locked' }],
    ['-ERR [AUTH]', { status: 'err', code: 'AUTH', text: '' }],
    ['-ERR no such user', { status: 'err', code: undefined, text: 'no such user' }],
    ['-ERR', { status: 'err', code: undefined, text: '' }],
    ['-ERR [unclosed text', { status: 'err', code: undefined, text: '[unclosed text' }],
    ['+ ', { status: 'continue', code: undefined, text: '' }],
    ['+', { status: 'continue', code: undefined, text: '' }],
    ['+ VXNlcm5hbWU6', { status: 'continue', code: undefined, text: 'VXNlcm5hbWU6' }],
    ['+OKAY', { status: 'other', code: undefined, text: '+OKAY' }],
    ['-ERRor', { status: 'other', code: undefined, text: '-ERRor' }],
    ['* OK IMAP here', { status: 'other', code: undefined, text: '* OK IMAP here' }],
    ['+ok lower case', { status: 'other', code: undefined, text: '+ok lower case' }],
  ];
  for (const [line, expected] of cases) it(JSON.stringify(line), () => assert.deepStrictEqual(parsed(line), expected));
});

describe('Pop3ResponseReader', () => {
  it('reads lines, CRLF or bare LF, and keeps the raw bytes for forwarding', () => {
    const out = read('+OK [XCLIENT] ready\r\n+OK Updated\n-ERR [AUTH] no\r\n');
    assert.deepStrictEqual(out.map((r) => (r.kind === 'response' ? r.response.raw.toString('latin1') : r.kind)), ['+OK [XCLIENT] ready\r\n', '+OK Updated\n', '-ERR [AUTH] no\r\n']);
  });

  it('an overlong line is fatal and stays so', () => {
    const r = new Pop3ResponseReader({ maxLineBytes: 16 });
    r.feed(b(`+OK ${'x'.repeat(40)}`));
    const first = r.next();
    assert.deepStrictEqual(first, { kind: 'error', code: 'responseTooLong', message: 'Response from server too long', fatal: true });
    r.feed(b('\r\n+OK\r\n'));
    assert.deepStrictEqual(r.next(), first);
    assert.deepStrictEqual(read('-ERR 0123456789abcdef\r\n', 16).map((x) => x.kind), ['error']);
  });

  it('takeBuffered gives what followed the last line read', () => {
    const r = new Pop3ResponseReader();
    r.feed(b('+OK Logged in.\r\n+OK 2 messages\r\n'));
    assert.equal(r.next().kind, 'response');
    assert.deepStrictEqual(r.takeBuffered(), b('+OK 2 messages\r\n'));
  });

  it('arbitrary bytes never throw and hold at most the limit', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 20 }), (chunks) => {
        const out = collect(new Pop3ResponseReader({ maxLineBytes: 32 }), chunks.map((c) => Buffer.from(c)), { maxHeld: 32 });
        for (const r of out) assert.ok(r.kind === 'response' ? ['ok', 'err', 'continue', 'other'].includes(r.response.status) : r.kind === 'error');
      }),
    );
  });
});
