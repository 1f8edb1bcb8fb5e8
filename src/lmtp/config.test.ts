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
    assert.equal(c.lmtp.max_recipients, 1000);
    assert.equal(c.lmtp.max_bad_commands, 10);
  });
  it('takes STARTTLS or implicit TLS on a TCP lmtp listener, refuses TLS on a unix socket and unknown lmtp keys', () => {
    const tls = config([{ protocol: 'lmtp', port: 0, tls: 'starttls' }, { protocol: 'lmtp', port: 0, tls: 'implicit' }]);
    assert.deepEqual(tls.listen.map((l) => l.tls), ['starttls', 'implicit']);
    assert.throws(() => config([{ protocol: 'lmtp', path: 'lmtp.sock', tls: 'starttls' }]), /TLS is for lmtp listeners on a TCP port/);
    assert.throws(() => config([{ protocol: 'lmtp', port: 0 }], { max_recipients: 0 }));
    assert.throws(() => config([{ protocol: 'lmtp', port: 0 }], { max_size: 1 }));
  });
});
