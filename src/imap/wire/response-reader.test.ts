import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { capabilityText, hasCapability, parseCapabilities } from './capability.js';
import { assertSameAtEverySplit } from '../../../test/support/feed-harness.js';
import { ImapResponseReader, type ImapResponse, type ResponseReadResult } from './response-reader.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

function responses(input: string, maxResponseBytes?: number): ResponseReadResult[] {
  const limits = maxResponseBytes === undefined ? undefined : { maxResponseBytes };
  return assertSameAtEverySplit(() => new ImapResponseReader(limits), b(input), { maxHeld: maxResponseBytes ?? 64 * 1024 });
}
function one(input: string): ImapResponse {
  const r = responses(input);
  assert.equal(r.length, 1);
  assert.ok(r[0]?.kind === 'response');
  assert.deepStrictEqual(r[0].response.raw, b(input));
  return r[0].response;
}
const fields = ({ raw: _raw, ...rest }: ImapResponse): Omit<ImapResponse, 'raw'> => rest;

describe('ImapResponseReader', () => {
  const cases: [string, string, Omit<ImapResponse, 'raw'>][] = [
    ['banner with capabilities', '* OK [CAPABILITY IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n',
      { tag: '*', status: 'OK', code: 'CAPABILITY', codeText: 'IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN', text: 'Dovecot ready.' }],
    ['banner without code', '* OK IMAP ready\r\n', { tag: '*', status: 'OK', text: 'IMAP ready' }],
    ['tagged OK with caps', 'L OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n', { tag: 'L', status: 'OK', code: 'CAPABILITY', codeText: 'IMAP4rev1 IDLE', text: 'Logged in' }],
    ['code without text', 'L NO [AUTHENTICATIONFAILED] Authentication failed.\r\n', { tag: 'L', status: 'NO', code: 'AUTHENTICATIONFAILED', text: 'Authentication failed.' }],
    ['code case and referral', 'L NO [referral imap://u@h/] go\r\n', { tag: 'L', status: 'NO', code: 'REFERRAL', codeText: 'imap://u@h/', text: 'go' }],
    ['status case-insensitive', 'I ok done\r\n', { tag: 'I', status: 'OK', text: 'done' }],
    ['NO without code', 'L NO go away\r\n', { tag: 'L', status: 'NO', text: 'go away' }],
    ['BYE', '* BYE shutting down\r\n', { tag: '*', status: 'BYE', text: 'shutting down' }],
    ['PREAUTH', '* PREAUTH hi\r\n', { tag: '*', status: 'PREAUTH', text: 'hi' }],
    ['untagged CAPABILITY', '* CAPABILITY IMAP4rev1 STARTTLS\r\n', { tag: '*', untaggedName: 'CAPABILITY', text: 'IMAP4rev1 STARTTLS' }],
    ['numbered data', '* 3 EXISTS\r\n', { tag: '*', untaggedName: 'EXISTS', text: '' }],
    ['continuation with base64', '+ dGVzdA==\r\n', { tag: '+', text: 'dGVzdA==' }],
    ['bare "+" (Dovecot accepts it)', '+\r\n', { tag: '+', text: '' }],
    ['bare LF', 'C OK done\n', { tag: 'C', status: 'OK', text: 'done' }],
    ['status text ending in "{5}" is not a literal', '* OK see {5}\r\n', { tag: '*', status: 'OK', text: 'see {5}' }],
    ['ID with a literal joined in', '* ID ("name" {3}\r\nfoo "v" {2}\r\n{})\r\n', { tag: '*', untaggedName: 'ID', text: '("name" {3}\r\nfoo "v" {2}\r\n{})' }],
  ];
  for (const [title, input, expected] of cases) {
    it(title, () => assert.deepStrictEqual(fields(one(input)), expected));
  }

  it('a login exchange, however it is cut', () => {
    const input = '* OK [CAPABILITY IMAP4rev1 ID] hi\r\n* ID ("name" {7}\r\nDovecot)\r\nI OK ID done\r\n+ \r\nL OK [CAPABILITY IMAP4rev1] in\r\nextra';
    const r = responses(input);
    assert.deepStrictEqual(r.map((x) => (x.kind === 'response' ? x.response.tag : x.kind)), ['*', '*', 'I', '+', 'L']);
  });

  it('hands over what follows the login reply', () => {
    const reader = new ImapResponseReader();
    reader.feed(b('L OK in\r\n* 1 EXISTS\r\n'));
    assert.equal(reader.next().kind, 'response');
    assert.deepStrictEqual(reader.takeBuffered(), b('* 1 EXISTS\r\n'));
  });

  it('a response over the limit is fatal, line or literal', () => {
    const fatal = [{ kind: 'error', code: 'responseTooLong', message: 'Response from server too long', fatal: true }];
    assert.deepStrictEqual(responses(`* OK ${'x'.repeat(40)}\r\n`, 32), fatal);
    assert.deepStrictEqual(responses(`* OK ${'x'.repeat(40)}`, 32), fatal);
    assert.deepStrictEqual(responses('* ID ("a" {30}\r\n', 32), fatal);
    assert.deepStrictEqual(responses('* ID ("a" {99999999999999999999}\r\n', 64), fatal);
    assert.equal(responses(`* OK ${'x'.repeat(25)}\r\n`, 32).length, 1);
  });

  it('never throws on arbitrary bytes and holds at most its limit', () => {
    const tokens = ['*', '+', 'L', ' ', 'OK', 'ID', '\r\n', '\n', '{3}', '{0}', '[', ']', '(', ')', 'xxxxxxxxxx'];
    const arb = fc.oneof(
      fc.array(fc.constantFrom(...tokens), { maxLength: 50 }).map((t) => b(t.join(''))),
      fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)),
    );
    fc.assert(fc.property(arb, (input) => {
      assertSameAtEverySplit(() => new ImapResponseReader({ maxResponseBytes: 48 }), input, { maxHeld: 48 });
    }), { numRuns: 300 });
  });
});

describe('capabilities', () => {
  const cases: [string, string[]][] = [
    ['IMAP4rev1 SASL-IR AUTH=PLAIN', ['IMAP4rev1', 'SASL-IR', 'AUTH=PLAIN']],
    ['* CAPABILITY IMAP4rev1 ID', ['IMAP4rev1', 'ID']],
    ['[CAPABILITY IMAP4rev1  LITERAL+]', ['IMAP4rev1', 'LITERAL+']],
    ['  ', []],
    ['\tcapability\tIMAP4rev1 \t ID ', ['IMAP4rev1', 'ID']],
  ];
  for (const [input, expected] of cases) {
    it(`parseCapabilities(${JSON.stringify(input)})`, () => assert.deepStrictEqual(parseCapabilities(input), expected));
  }
  it('capabilityText is the parsed names joined by one space, and the text itself when it is that already', () => {
    const dovecot = 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE SORT SORT=DISPLAY THREAD=REFERENCES LITERAL+ NOTIFY SPECIAL-USE';
    assert.equal(capabilityText(dovecot), dovecot);
    for (const [input] of cases) assert.equal(capabilityText(input), parseCapabilities(input).join(' '));
    const pieces = ['IMAP4rev1', 'ID', 'CAPABILITY', 'capability', '*', '[', ']', '[ID', 'ID]', ' ', '  ', '\t', '\r', '\u00a0', 'ı', 'capabılıty', ''];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 8 }), fc.constantFrom(' ', '', '\t'), (words, sep) => {
        const s = words.join(sep);
        assert.equal(capabilityText(s), parseCapabilities(s).join(' '));
      }),
      { numRuns: 2000 },
    );
  });
  it('hasCapability finds a whole name in the text, in any case', () => {
    assert.equal(hasCapability('IMAP4rev1 auth=PLAIN', 'AUTH=plain'), true);
    assert.equal(hasCapability('IMAP4rev1', 'IMAP4'), false);
    assert.equal(hasCapability('IMAP4rev1 id', 'ID'), true);
    assert.equal(hasCapability('IMAP4rev1 IDLE', 'ID'), false);
    assert.equal(hasCapability('XID IDLE', 'ID'), false);
    assert.equal(hasCapability('', 'ID'), false);
    const pieces = ['IMAP4rev1', 'ID', 'id', 'IDLE', 'LITERAL+', 'literal-', 'CAPABILITY', '*', '[', ']', ' ', '\t', 'ı', 'I', ''];
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...pieces), { maxLength: 8 }), fc.constantFrom(...pieces), (words, name) => {
        const s = words.join(' ');
        const names = parseCapabilities(s);
        assert.equal(hasCapability(capabilityText(s), name), names.some((c) => c.toUpperCase() === name.toUpperCase()));
      }),
      { numRuns: 2000 },
    );
  });
});
