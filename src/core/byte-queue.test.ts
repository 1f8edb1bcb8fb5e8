import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ByteQueue } from './byte-queue.js';

test('takeAll copies the unread bytes into memory of their own and lets the storage go', () => {
  const q = new ByteQueue();
  q.push(Buffer.from('A1 LOGIN a b\r\nA2 NOOP\r\n'));
  q.skip(14);
  const rest = q.takeAll();
  assert.equal(rest.toString(), 'A2 NOOP\r\n');
  // Not a view into Node's shared 8 KiB pool, which a long-lived session would keep alive.
  assert.equal(rest.buffer.byteLength, rest.length);
  assert.equal(q.size, 0);
  assert.equal(q.takeAll().length, 0);
  q.push(Buffer.from('more'));
  assert.equal(q.take(4).toString(), 'more');
});
