import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { joinChunks } from './chunks.js';

describe('joinChunks', () => {
  it('joins text as text, and anything with bytes as bytes', () => {
    assert.equal(joinChunks(['a', 'b', 'é']), 'abé');
    assert.equal(joinChunks(['only']), 'only');
    const one = Buffer.from([0xff]);
    assert.equal(joinChunks([one]), one);
    assert.deepStrictEqual(joinChunks(['é', Buffer.from([0xff]), 'x']), Buffer.from([0xc3, 0xa9, 0xff, 0x78]));
  });
});
