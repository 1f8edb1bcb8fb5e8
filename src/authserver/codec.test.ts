import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { contLine, failLine, handshakeText, LineFramer, okLine, parseClientLine, tabEscape, tabUnescape, type FrameEvent, type ParsedLine } from './codec.js';
import { MAX_LINE_BYTES } from './limits.js';

const T = '\t';
const E = '\x01';

describe('tab escaping', () => {
  const table: ReadonlyArray<[plain: string, escaped: string]> = [
    ['plain', 'plain'],
    ['a\tb', `a${E}tb`],
    ['cr\rlf\n', `cr${E}rlf${E}n`],
    ['nul\0', `nul${E}0`],
    [`esc${E}`, `esc${E}1`],
    ['ümlaut@example.org', 'ümlaut@example.org'],
  ];
  for (const [plain, escaped] of table) {
    it(`${JSON.stringify(plain)} <-> ${JSON.stringify(escaped)}`, () => {
      assert.equal(tabEscape(plain), escaped);
      assert.equal(tabUnescape(escaped), plain);
    });
  }
  it('any other escaped character stands for itself', () => {
    assert.equal(tabUnescape(`a${E}xb${E}=`), 'axb=');
  });
  it('a dangling escape byte is an error', () => {
    assert.equal(tabUnescape(`abc${E}`), null);
  });
  it('round-trips any string, and the escaped form has no TAB, CR, LF or NUL', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (s) => {
        const e = tabEscape(s);
        assert.ok(!/[\t\r\n\0]/.test(e));
        assert.equal(tabUnescape(e), s);
      }),
    );
  });
});

describe('line framing', () => {
  const feedAll = (chunks: Buffer[]): FrameEvent[] => {
    const f = new LineFramer();
    return chunks.flatMap((c) => f.feed(c));
  };
  const input = Buffer.from(`VERSION${T}1${T}0\nCPID${T}42\r\nAUTH${T}1${T}PLAIN${T}service=smtp${T}resp=AGEAYg==\n\nCONT${T}1${T}`);
  const want: FrameEvent[] = [
    { kind: 'line', text: `VERSION${T}1${T}0` },
    { kind: 'line', text: `CPID${T}42` },
    { kind: 'line', text: `AUTH${T}1${T}PLAIN${T}service=smtp${T}resp=AGEAYg==` },
    { kind: 'line', text: '' },
  ];
  it('splits lines, drops a CR before LF, keeps a partial line', () => assert.deepEqual(feedAll([input]), want));
  it('gives the same lines however the input is split', () => {
    for (let i = 0; i <= input.length; i++) assert.deepEqual(feedAll([input.subarray(0, i), input.subarray(i)]), want, `split at ${i}`);
    assert.deepEqual(feedAll([...input].map((b) => Buffer.from([b]))), want, 'one byte at a time');
  });
  it(`accepts ${MAX_LINE_BYTES} bytes before the LF`, () => {
    const line = 'x'.repeat(MAX_LINE_BYTES);
    assert.deepEqual(feedAll([Buffer.from(`${line}\n`)]), [{ kind: 'line', text: line }]);
  });
  it('refuses one byte more, as soon as it arrives, and reads nothing after', () => {
    const f = new LineFramer();
    assert.deepEqual(f.feed(Buffer.alloc(MAX_LINE_BYTES, 0x78)), []);
    assert.deepEqual(f.feed(Buffer.from('y')), [{ kind: 'tooLong', bytes: MAX_LINE_BYTES + 1 }]);
    assert.deepEqual(f.feed(Buffer.from('\nCPID\t1\n')), []);
  });
  it('a too-long line in one chunk after good lines: the good lines first', () => {
    const ev = feedAll([Buffer.from(`CPID${T}1\n${'z'.repeat(MAX_LINE_BYTES + 5)}\n`)]);
    assert.deepEqual(ev.map((e) => e.kind), ['line', 'tooLong']);
  });
});

describe('client commands', () => {
  const params = { secured: false, validClientCert: false, nologin: false, noPenalty: false };
  const table: ReadonlyArray<[name: string, line: string, want: ParsedLine]> = [
    ['VERSION', `VERSION${T}1${T}0`, { kind: 'command', command: { kind: 'VERSION', major: 1, minor: 0 } }],
    ['CPID', `CPID${T}31337`, { kind: 'command', command: { kind: 'CPID', pid: 31337 } }],
    [
      'AUTH as Postfix sends it',
      `AUTH${T}7${T}PLAIN${T}service=smtp${T}nologin${T}lip=192.0.2.1${T}rip=198.51.100.7${T}secured${T}resp=AGFsaWNlAHB3`,
      { kind: 'command', command: { kind: 'AUTH', id: 7, mech: 'PLAIN', params: { ...params, service: 'smtp', nologin: true, lip: '192.0.2.1', rip: '198.51.100.7', secured: true }, resp: 'AGFsaWNlAHB3' } },
    ],
    [
      'AUTH as Exim sends it (empty resp, lower-case mechanism)',
      `AUTH${T}1${T}login${T}service=smtp${T}secured${T}valid-client-cert${T}rip=::1${T}lip=::1${T}nologin${T}resp=`,
      { kind: 'command', command: { kind: 'AUTH', id: 1, mech: 'LOGIN', params: { ...params, service: 'smtp', secured: true, validClientCert: true, rip: '::1', lip: '::1', nologin: true }, resp: '' } },
    ],
    [
      'AUTH: ports, session, no-penalty, escaped values; unknown parameters ignored',
      `AUTH${T}2${T}PLAIN${T}service=sm${E}ttp${T}lport=587${T}rport=99999${T}session=abc${T}no-penalty${T}transport=TLS${T}debug`,
      { kind: 'command', command: { kind: 'AUTH', id: 2, mech: 'PLAIN', params: { ...params, service: 'sm\ttp', lport: 587, session: 'abc', noPenalty: true } } },
    ],
    ['AUTH: parameters after resp', `AUTH${T}3${T}PLAIN${T}service=smtp${T}resp=AA==${T}secured`, { kind: 'requestError', id: 3, message: 'parameters after resp (it must be the last)' }],
    ['AUTH: no service', `AUTH${T}4${T}PLAIN${T}resp=AA==`, { kind: 'requestError', id: 4, message: 'no service parameter' }],
    ['AUTH: a dangling escape', `AUTH${T}5${T}PLAIN${T}service=smtp${E}`, { kind: 'requestError', id: 5, message: 'invalid tab escape in a parameter' }],
    ['AUTH: no mechanism', `AUTH${T}6`, { kind: 'protocolError', message: 'broken AUTH: expected AUTH<TAB>id<TAB>mechanism' }],
    ['AUTH: id is not a number', `AUTH${T}x${T}PLAIN${T}service=smtp`, { kind: 'protocolError', message: 'broken AUTH: expected AUTH<TAB>id<TAB>mechanism' }],
    ['AUTH: id beyond 32 bits', `AUTH${T}4294967296${T}PLAIN${T}service=smtp`, { kind: 'protocolError', message: 'broken AUTH: expected AUTH<TAB>id<TAB>mechanism' }],
    ['CONT', `CONT${T}9${T}YWJj`, { kind: 'command', command: { kind: 'CONT', id: 9, data: 'YWJj' } }],
    ['CONT with empty data', `CONT${T}9${T}`, { kind: 'command', command: { kind: 'CONT', id: 9, data: '' } }],
    ['CONT without data', `CONT${T}9`, { kind: 'protocolError', message: 'broken CONT: expected CONT<TAB>id<TAB>data' }],
    ['CANCEL', `CANCEL${T}9`, { kind: 'command', command: { kind: 'CANCEL', id: 9 } }],
    ['VERSION without minor', `VERSION${T}1`, { kind: 'protocolError', message: 'VERSION needs a major and a minor number' }],
    ['CPID without pid', 'CPID', { kind: 'protocolError', message: 'CPID needs a process id' }],
    ['an unknown command', `REQUEST${T}1${T}2`, { kind: 'protocolError', message: 'unknown command "REQUEST"' }],
    ['commands are case-sensitive', `auth${T}1${T}PLAIN`, { kind: 'protocolError', message: 'unknown command "auth"' }],
    ['a raw NUL byte', `CPID${T}1\0`, { kind: 'protocolError', message: 'NUL byte in a line' }],
    ['an empty line', '', { kind: 'protocolError', message: 'unknown command ""' }],
  ];
  for (const [name, line, want] of table) it(name, () => assert.deepEqual(parseClientLine(line), want));

  it('never throws on hostile input', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 300 }), (s) => void parseClientLine(s)));
    fc.assert(fc.property(fc.array(fc.constantFrom('AUTH', 'CONT', '1', 'PLAIN', 'service=x', 'resp=', E, '=', ''), { maxLength: 8 }), (parts) => void parseClientLine(parts.join(T))));
  });
});

describe('server replies', () => {
  it('the handshake, whole', () => {
    const text = handshakeText({ mechanisms: [{ name: 'PLAIN', flags: ['plaintext'] }, { name: 'LOGIN', flags: ['plaintext'] }], spid: 123, cuid: 4, cookie: 'ab'.repeat(16) });
    assert.equal(text, `VERSION${T}1${T}2\nMECH${T}PLAIN${T}plaintext\nMECH${T}LOGIN${T}plaintext\nSPID${T}123\nCUID${T}4\nCOOKIE${T}${'ab'.repeat(16)}\nDONE\n`);
  });
  it('OK always carries user=, escaped', () => {
    assert.equal(okLine(1, 'alice@example.org'), `OK${T}1${T}user=alice@example.org\n`);
    assert.equal(okLine(2, 'a\tb'), `OK${T}2${T}user=a${E}tb\n`);
  });
  it('CONT, with an empty challenge', () => {
    assert.equal(contLine(3, Buffer.alloc(0)), `CONT${T}3${T}\n`);
    assert.equal(contLine(3, Buffer.from('Username:')), `CONT${T}3${T}VXNlcm5hbWU6\n`);
  });
  it('FAIL: user, temp and reason', () => {
    assert.equal(failLine(4, { reason: 'Authentication failed' }), `FAIL${T}4${T}reason=Authentication failed\n`);
    assert.equal(failLine(5, { user: 'bob', temp: true, reason: 'Temporary authentication failure' }), `FAIL${T}5${T}user=bob${T}code=temp_fail${T}temp${T}reason=Temporary authentication failure\n`);
    assert.equal(failLine(6, { user: 'x\ny', reason: 'a\tb' }), `FAIL${T}6${T}user=x${E}ny${T}reason=a${E}tb\n`);
  });
});
