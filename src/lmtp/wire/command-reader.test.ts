import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { assertSameAtEverySplit } from '../../../test/support/feed-harness.js';
import { LmtpCommandReader, type LmtpReadResult } from './command-reader.js';
import type { LmtpCommand } from './command-parser.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const cmd = (command: LmtpCommand): LmtpReadResult => ({ kind: 'command', command });
const syntax = (verb: string, message: string): LmtpReadResult => ({ kind: 'syntaxError', verb, message });
const tooLong: LmtpReadResult = { kind: 'error', code: 'lineTooLong', message: 'Line too long' };

function read(input: string, maxLineBytes = 128): LmtpReadResult[] {
  return assertSameAtEverySplit(() => new LmtpCommandReader({ maxLineBytes }), b(input), { maxHeld: maxLineBytes });
}

type Out = LmtpReadResult | { kind: 'body'; text: string };

/** A whole session: after each DATA command the body is read; data pieces are joined, since where they are cut depends on the feeding. */
function session(pieces: Buffer[]): Out[] {
  const r = new LmtpCommandReader({ maxLineBytes: 128 });
  const out: Out[] = [];
  let body: Buffer[] | undefined;
  for (const p of pieces) {
    r.feed(p);
    for (;;) {
      const x = r.next();
      if (x.kind === 'needMore') {
        assert.ok(!r.inData || r.bufferedBytes <= 2, `holds ${r.bufferedBytes} in DATA`);
        break;
      }
      if (x.kind === 'data') {
        assert.ok(x.bytes.length > 0);
        (body ??= []).push(x.bytes);
        continue;
      }
      if (x.kind === 'dataEnd') {
        out.push({ kind: 'body', text: Buffer.concat(body ?? []).toString('latin1') });
        body = undefined;
        continue;
      }
      out.push(x);
      if (x.kind === 'command' && x.command.name === 'DATA') r.beginData();
    }
  }
  return out;
}

function sessionAtEverySplit(input: string): Out[] {
  const bytes = b(input);
  const whole = session([bytes]);
  for (let i = 1; i < bytes.length; i++) assert.deepStrictEqual(session([bytes.subarray(0, i), bytes.subarray(i)]), whole, `cut at ${i}`);
  assert.deepStrictEqual(session(Array.from(bytes, (_, i) => bytes.subarray(i, i + 1))), whole, 'byte by byte');
  return whole;
}

describe('LmtpCommandReader: commands', () => {
  const cases: [string, string, LmtpReadResult[]][] = [
    ['LHLO', 'LHLO mx.example.org\r\n', [cmd({ name: 'LHLO', domain: 'mx.example.org' })]],
    ['verbs are case-insensitive', 'lhlo [127.0.0.1]\r\nnoop\r\nrset\n', [cmd({ name: 'LHLO', domain: '[127.0.0.1]' }), cmd({ name: 'NOOP' }), cmd({ name: 'RSET' })]],
    ['MAIL FROM with params', 'MAIL FROM:<a@b.org> SIZE=1234 body=8BITMIME\r\n',
      [cmd({ name: 'MAIL', path: 'a@b.org', params: [{ keyword: 'SIZE', value: '1234' }, { keyword: 'BODY', value: '8BITMIME' }] })]],
    ['null reverse path', 'MAIL FROM:<>\r\n', [cmd({ name: 'MAIL', path: '', params: [] })]],
    ['space after the colon, lower-case from', 'mail from: <a@b>\r\n', [cmd({ name: 'MAIL', path: 'a@b', params: [] })]],
    ['RCPT with a keyword-only param and a trailing space', 'RCPT TO:<u@x> NOTIFY=NEVER XFLAG \r\n',
      [cmd({ name: 'RCPT', path: 'u@x', params: [{ keyword: 'NOTIFY', value: 'NEVER' }, { keyword: 'XFLAG' }] })]],
    ['source route dropped', 'RCPT TO:<@relay.org,@r2:u@x>\r\n', [cmd({ name: 'RCPT', path: 'u@x', params: [] })]],
    ['quoted local part may hold > and space', 'RCPT TO:<"a> b"@x>\r\n', [cmd({ name: 'RCPT', path: '"a> b"@x', params: [] })]],
    ['UTF-8 address', 'RCPT TO:<j\xc3\xb6rg@x>\r\n', [cmd({ name: 'RCPT', path: 'jörg@x', params: [] })]],
    ['VRFY', 'VRFY alice\r\n', [cmd({ name: 'VRFY', arg: 'alice' })]],
    ['NOOP with a string', 'NOOP hello there\r\n', [cmd({ name: 'NOOP' })]],
    ['QUIT, DATA', 'QUIT\r\n', [cmd({ name: 'QUIT' })]],
    ['HELO and EHLO are unknown to LMTP (RFC 2033 §4.1)', 'EHLO x\r\nHELO x\r\n', [cmd({ name: 'unknown', verb: 'EHLO' }), cmd({ name: 'unknown', verb: 'HELO' })]],
    ['unimplemented SMTP verbs', 'EXPN list\r\nHELP\r\nBDAT 10 LAST\r\n',
      [cmd({ name: 'unimplemented', verb: 'EXPN' }), cmd({ name: 'unimplemented', verb: 'HELP' }), cmd({ name: 'unimplemented', verb: 'BDAT' })]],
    ['STARTTLS', 'starttls\r\n', [cmd({ name: 'STARTTLS' })]],
    ['XCLIENT attributes, values still xtext', 'XCLIENT ADDR=192.0.2.1 helo=mx+2Ex  TTL=3\r\nXCLIENT\r\n',
      [cmd({ name: 'XCLIENT', params: [{ keyword: 'ADDR', value: '192.0.2.1' }, { keyword: 'HELO', value: 'mx+2Ex' }, { keyword: 'TTL', value: '3' }] }), cmd({ name: 'XCLIENT', params: [] })]],
    ['RCPT with ORCPT and XRCPTFORWARD', 'RCPT TO:<u@x> ORCPT=rfc822;u+40x XRCPTFORWARD=YT1i\r\n',
      [cmd({ name: 'RCPT', path: 'u@x', params: [{ keyword: 'ORCPT', value: 'rfc822;u+40x' }, { keyword: 'XRCPTFORWARD', value: 'YT1i' }] })]],
    ['garbage and the empty line are unknown', 'xyzzy\r\n\r\n', [cmd({ name: 'unknown', verb: 'XYZZY' }), cmd({ name: 'unknown', verb: '' })]],
  ];
  for (const [title, input, expected] of cases) it(title, () => assert.deepStrictEqual(read(input), expected));

  const errors: [string, string, LmtpReadResult][] = [
    ['LHLO without domain', 'LHLO\r\n', syntax('LHLO', 'Invalid domain')],
    ['MAIL without FROM:', 'MAIL <a@b>\r\n', syntax('MAIL', 'Invalid parameters: FROM: expected')],
    ['MAIL path without brackets', 'MAIL FROM:a@b\r\n', syntax('MAIL', 'Invalid path')],
    ['unclosed path', 'RCPT TO:<a@b\r\n', syntax('RCPT', 'Invalid path')],
    ['space inside a path', 'RCPT TO:<a @b>\r\n', syntax('RCPT', 'Invalid path')],
    ['RCPT null path', 'RCPT TO:<>\r\n', syntax('RCPT', 'Null path not allowed')],
    ['junk glued to the path', 'RCPT TO:<a@b>x\r\n', syntax('RCPT', 'Invalid path')],
    ['bad param keyword', 'RCPT TO:<a@b> =x\r\n', syntax('RCPT', 'Invalid parameter: ')],
    ['bad param value', 'MAIL FROM:<a@b> SIZE=\r\n', syntax('MAIL', 'Invalid value for SIZE')],
    ['DATA with arguments', 'DATA now\r\n', syntax('DATA', 'Invalid parameters')],
    ['VRFY without argument', 'VRFY \r\n', syntax('VRFY', 'Invalid parameters')],
    ['STARTTLS with arguments', 'STARTTLS now\r\n', syntax('STARTTLS', 'Invalid parameters')],
    ['XCLIENT with a bad attribute name', 'XCLIENT =1\r\n', syntax('XCLIENT', 'Invalid parameter: ')],
    ['XCLIENT with an empty value', 'XCLIENT ADDR=\r\n', syntax('XCLIENT', 'Invalid value for ADDR')],
  ];
  for (const [title, input, expected] of errors) it(`syntax error: ${title}`, () => assert.deepStrictEqual(read(input), [expected]));
});

describe('LmtpCommandReader: hostile input', () => {
  it('a line past the limit is reported once, never held, and the next line is read', () => {
    assert.deepStrictEqual(read(`RCPT TO:<${'x'.repeat(300)}@x>\r\nQUIT\r\n`), [tooLong, cmd({ name: 'QUIT' })]);
  });
  it('NUL in a command line is refused', () => {
    assert.deepStrictEqual(read('RCPT TO:<a\0@b>\r\nNOOP\r\n'), [{ kind: 'error', code: 'nul', message: 'NUL in command line' }, cmd({ name: 'NOOP' })]);
  });
  it('never throws on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 300 }), (bytes) => {
      const r = new LmtpCommandReader({ maxLineBytes: 64 });
      r.feed(bytes);
      for (let x = r.next(); x.kind !== 'needMore'; x = r.next()) assert.ok(['command', 'syntaxError', 'error'].includes(x.kind));
      assert.ok(r.bufferedBytes <= 64);
    }));
  });
});

describe('LmtpCommandReader: DATA body', () => {
  const rcpt = cmd({ name: 'RCPT', path: 'u@x', params: [] });
  const data = cmd({ name: 'DATA' });
  const body = (text: string): Out => ({ kind: 'body', text });

  it('streams the body dot-stuffed as sent, ends at the dot line, then reads commands again', () => {
    assert.deepStrictEqual(sessionAtEverySplit('RCPT TO:<u@x>\r\nDATA\r\nSubject: a\r\n\r\n..leading dot\r\n.x\r\nend\r\n.\r\nQUIT\r\n'),
      [rcpt, data, body('Subject: a\r\n\r\n..leading dot\r\n.x\r\nend\r\n'), cmd({ name: 'QUIT' })]);
  });
  it('an empty body', () => {
    assert.deepStrictEqual(sessionAtEverySplit('DATA\r\n.\r\nNOOP\r\n'), [data, body(''), cmd({ name: 'NOOP' })]);
  });
  it('bare LF line endings, and a bare-LF dot line', () => {
    assert.deepStrictEqual(sessionAtEverySplit('DATA\na\nb\n.\nRSET\n'), [data, body('a\nb\n'), cmd({ name: 'RSET' })]);
  });
  it('look-alikes of the terminator are body: ". ", ".\\r" then text, "x.\\r\\n", a dot not at a line start', () => {
    const text = 'x.\r\n. \r\n.\rz\r\nab.\r\n...\r\n';
    assert.deepStrictEqual(sessionAtEverySplit(`DATA\r\n${text}.\r\nQUIT\r\n`), [data, body(text), cmd({ name: 'QUIT' })]);
  });
  it('body lines have no length limit and NUL passes through', () => {
    const text = `${'y'.repeat(1000)}\0\r\nshort\r\n`;
    const s = session([b(`DATA\r\n${text}.\r\n`)]);
    assert.deepStrictEqual(s, [data, body(text)]);
  });
  it('a 20 MB body streams with at most 2 bytes held between pieces', () => {
    const r = new LmtpCommandReader();
    r.feed(b('DATA\r\n'));
    assert.deepStrictEqual(r.next(), data);
    r.beginData();
    const chunk = Buffer.from('0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstu\r\n.'.repeat(1000));
    let total = 0;
    for (let i = 0; i < 300; i++) {
      r.feed(chunk);
      for (let x = r.next(); x.kind !== 'needMore'; x = r.next()) {
        assert.equal(x.kind, 'data');
        if (x.kind === 'data') total += x.bytes.length;
      }
      assert.ok(r.bufferedBytes <= 2);
    }
    r.feed(b('x\r\n.\r\n'));
    for (let x = r.next(); x.kind !== 'dataEnd'; x = r.next()) if (x.kind === 'data') total += x.bytes.length;
    assert.equal(total, chunk.length * 300 + 3);
    assert.equal(r.inData, false);
  });
  it('property: any body, dot-stuffed, comes out byte-identical at every split', () => {
    fc.assert(fc.property(fc.array(fc.stringMatching(/^[.a\r]{0,4}$/), { maxLength: 6 }), (lines) => {
      // dot-stuff as a client does (RFC 5321 §4.5.2)
      const text = lines.map((l) => `${l.startsWith('.') ? '.' : ''}${l}\r\n`).join('');
      const input = `DATA\r\n${text}.\r\nNOOP\r\n`;
      assert.deepStrictEqual(sessionAtEverySplit(input), [data, body(text), cmd({ name: 'NOOP' })]);
    }), { numRuns: 200 });
  });
});
