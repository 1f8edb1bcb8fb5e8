import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { upperCase } from './upper-case.js';

describe('upperCase', () => {
  it('is toUpperCase', () => {
    for (const s of ['', 'OK', 'ok', 'Capability', 'AUTH=PLAIN', 'auth=plain', 'LITERAL+', 'ß', 'ﬁx', 'Ä1', '{5}', '\u0000a']) assert.equal(upperCase(s), s.toUpperCase(), JSON.stringify(s));
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (s) => upperCase(s) === s.toUpperCase()), { numRuns: 1000 });
  });
});
