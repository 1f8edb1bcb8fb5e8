import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { xclientCommands, xtext } from './xclient.js';

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
