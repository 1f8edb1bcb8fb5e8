import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateConfig } from '../config/index.js';

const config = (listen: unknown[], lmtp?: unknown) =>
  validateConfig({ listen, ...(lmtp ? { lmtp } : {}), auth: { passdb: [{ driver: 'static', args: 'nopassword=y' }] } }, '<test>');

describe('lmtp configuration', () => {
  it('lmtp listeners on a TCP port or a unix socket, tls none by default; lmtp section defaults', () => {
    const c = config([{ protocol: 'lmtp', port: 0 }, { protocol: 'lmtp', path: 'lmtp.sock', mode: '0660' }]);
    assert.deepEqual(c.listen.map((l) => [l.protocol, l.tls]), [['lmtp', 'none'], ['lmtp', 'none']]);
    assert.equal(c.lmtp.max_message_size, 50 * 1024 * 1024);
    assert.equal(c.lmtp.idle_timeout, 5 * 60 * 1000);
    assert.equal(config([{ protocol: 'lmtp', port: 0 }], { max_message_size: '1k' }).lmtp.max_message_size, 1024);
  });
  it('refuses TLS on an lmtp listener and unknown lmtp keys', () => {
    assert.throws(() => config([{ protocol: 'lmtp', port: 0, tls: 'starttls' }]), /lmtp listeners have no TLS/);
    assert.throws(() => config([{ protocol: 'lmtp', port: 0 }], { max_size: 1 }));
  });
});
