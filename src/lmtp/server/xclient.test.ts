import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { xclientCommands, xtext } from './xclient.js';
import { parseXclient, xtextDecode } from './xclient-in.js';

describe('XCLIENT towards backends', () => {
  it('xtext encodes "+", "=", space, controls and 8-bit bytes (RFC 3461 §4)', () => {
    assert.equal(xtext('a+b=c d\x01é'), 'a+2Bb+3Dc+20d+01+C3+A9');
    assert.equal(xtext('[127.0.0.1]'), '[127.0.0.1]');
  });
  it('only what the backend lists, in Dovecot order, whatever order it lists them in', () => {
    const lhlo = ['mx', '8BITMIME', 'XCLIENT TIMEOUT TTL ADDR PORT helo'];
    assert.deepEqual(xclientCommands(lhlo, { ADDR: '::1', PORT: '40000', HELO: 'mta', PROTO: 'LMTP', SESSION: 's', TTL: '4', TIMEOUT: '30' }),
      ['XCLIENT HELO=mta TTL=4 TIMEOUT=30 PORT=40000 ADDR=::1']);
  });
  it('nothing when the backend has no XCLIENT, or offers nothing we have', () => {
    assert.deepEqual(xclientCommands(['mx', 'PIPELINING'], { ADDR: '1.2.3.4' }), []);
    assert.deepEqual(xclientCommands(['mx', 'XCLIENT LOGIN'], { ADDR: '1.2.3.4' }), []);
    assert.deepEqual(xclientCommands(['XCLIENT ADDR'], { ADDR: '1.2.3.4' }), [], 'the first LHLO line is the greeting, not an extension');
  });
  it('lines over 512 characters are split into several commands', () => {
    const cmds = xclientCommands(['mx', 'XCLIENT HELO ADDR'], { HELO: 'h'.repeat(500), ADDR: '1.2.3.4' });
    assert.deepEqual(cmds, [`XCLIENT HELO=${'h'.repeat(500)}`, 'XCLIENT ADDR=1.2.3.4']);
  });
});

describe('XCLIENT from a proxy in front', () => {
  it('xtext decodes what xtext encodes, and refuses a "+" without two hex digits', () => {
    for (const s of ['plain', 'a+b=c d\x01é', '', '+', '[127.0.0.1]']) assert.equal(xtextDecode(xtext(s)), s);
    assert.equal(xtextDecode('a+4'), undefined);
    assert.equal(xtextDecode('a+G0'), undefined);
  });
  it('reads Dovecot\'s attributes, skips [UNAVAILABLE] and unknown ones, refuses malformed numbers and addresses', () => {
    const p = (s: string) => parseXclient(s.split(' ').map((w) => ({ keyword: w.split('=')[0]!, value: w.split('=')[1]! })));
    assert.deepEqual(p('ADDR=[UNAVAILABLE] PORT=[UNAVAILABLE] HELO=mx LOGIN=u+40x SESSION=s1 TTL=0 TIMEOUT=30 FORWARD=x'),
      { kind: 'ok', client: { helo: 'mx', login: 'u@x', session: 's1', ttl: 0, timeoutSecs: 30 } });
    assert.deepEqual(p('ADDR=IPV6:::1 PROTO=lmtp'), { kind: 'ok', client: { addr: '::1', proto: 'LMTP' } });
    assert.deepEqual(p('ADDR=IPV6:127.0.0.1'), { kind: 'invalid', reply: '501 5.5.4 Invalid ADDR parameter' });
    assert.deepEqual(p('PORT=0'), { kind: 'invalid', reply: '501 5.5.4 Invalid PORT parameter' });
    assert.deepEqual(p('TTL=-1'), { kind: 'invalid', reply: '501 5.5.4 Invalid TTL parameter' });
    assert.deepEqual(p('TIMEOUT=x'), { kind: 'invalid', reply: '501 5.5.4 Invalid TIMEOUT parameter' });
  });
});
