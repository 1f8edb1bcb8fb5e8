import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { decodeProxyHeader, encodeProxyV2, V2_MAX_BYTES, type ProxyDecode } from './proxy-protocol.js';

const SIG = Buffer.from('0d0a0d0a000d0a515549540a', 'hex');

/** Feeding a prefix of a header must say needMore, never a different answer. */
function assertPrefixesNeedMore(full: Buffer): void {
  for (let i = 0; i < full.length; i++) {
    const r = decodeProxyHeader(full.subarray(0, i));
    assert.equal(r.kind, 'needMore', `prefix of ${i} bytes: ${JSON.stringify(r)}`);
  }
}

function header(r: ProxyDecode) {
  assert.equal(r.kind, 'header', JSON.stringify(r));
  return (r as Extract<ProxyDecode, { kind: 'header' }>).header;
}

test('v1 TCP4 and TCP6, with the bytes after the header left alone', () => {
  const line = Buffer.from('PROXY TCP4 192.0.2.7 198.51.100.1 56324 993\r\n');
  assertPrefixesNeedMore(line);
  const h = header(decodeProxyHeader(Buffer.concat([line, Buffer.from('a LOGIN x y\r\n')])));
  assert.deepEqual(h, { kind: 'proxied', version: 1, source: { ip: '192.0.2.7', port: 56324 }, destination: { ip: '198.51.100.1', port: 993 }, length: line.length, tlvs: new Map() });
  const h6 = header(decodeProxyHeader(Buffer.from('PROXY TCP6 2001:db8::7 2001:db8::1 4000 143\r\n')));
  assert.equal(h6.kind === 'proxied' && h6.source.ip, '2001:db8::7');
  assert.deepEqual(header(decodeProxyHeader(Buffer.from('PROXY UNKNOWN\r\n'))), { kind: 'local', version: 1, length: 15 });
  assert.deepEqual(header(decodeProxyHeader(Buffer.from('PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n'))).kind, 'local');
});

test('v2 PROXY over IPv4 and IPv6, LOCAL, TLVs', () => {
  const v4 = encodeProxyV2({ ip: '192.0.2.7', port: 50000 }, { ip: '198.51.100.1', port: 993 });
  assertPrefixesNeedMore(v4);
  const h = header(decodeProxyHeader(Buffer.concat([v4, Buffer.from('* extra')])));
  assert.deepEqual(h, { kind: 'proxied', version: 2, source: { ip: '192.0.2.7', port: 50000 }, destination: { ip: '198.51.100.1', port: 993 }, length: 28, tlvs: new Map() });
  for (const [ip, want] of [['2001:db8:0:0:0:0:0:1', '2001:db8::1'], ['::1', '::1'], ['fe80:0:0:0:1:0:0:0', 'fe80::1:0:0:0'], ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'], ['::ffff:192.0.2.9', '::ffff:192.0.2.9']] as const) {
    const raw = ip === '::ffff:192.0.2.9' ? Buffer.concat([SIG, Buffer.from([0x21, 0x21, 0, 36]), Buffer.alloc(10), Buffer.from([0xff, 0xff, 192, 0, 2, 9]), Buffer.alloc(16), Buffer.alloc(4)]) : encodeProxyV2({ ip, port: 1 }, { ip: '::1', port: 2 });
    const hh = header(decodeProxyHeader(raw));
    assert.equal(hh.kind === 'proxied' && hh.source.ip, want, ip);
  }
  const local = Buffer.concat([SIG, Buffer.from([0x20, 0x00, 0x00, 0x00])]);
  assert.deepEqual(header(decodeProxyHeader(local)), { kind: 'local', version: 2, length: 16 });
  const withTlv = Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, 12 + 3 + 4]), Buffer.from([192, 0, 2, 7, 10, 0, 0, 1, 0, 80, 0, 143]), Buffer.from([0x02, 0, 4]), Buffer.from('mail')]);
  const ht = header(decodeProxyHeader(withTlv));
  assert.equal(ht.kind === 'proxied' && ht.tlvs.get(0x02)?.toString(), 'mail');
  const unix = Buffer.concat([SIG, Buffer.from([0x21, 0x31, 0, 216]), Buffer.alloc(216)]);
  assert.equal(header(decodeProxyHeader(unix)).kind, 'local');
});

test('hostile headers are errors, not exceptions', () => {
  const cases: Array<[string, Buffer]> = [
    ['plain IMAP', Buffer.from('a LOGIN x y\r\n')],
    ['v1 too long', Buffer.from(`PROXY TCP4 ${'1'.repeat(120)}`)],
    ['v1 bad family', Buffer.from('PROXY TCP5 1.2.3.4 1.2.3.4 1 2\r\n')],
    ['v1 bad address', Buffer.from('PROXY TCP4 1.2.3.400 1.2.3.4 1 2\r\n')],
    ['v1 bad port', Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 65536 2\r\n')],
    ['v1 leading zero port', Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 01 2\r\n')],
    ['v1 v6 in TCP4', Buffer.from('PROXY TCP4 ::1 ::1 1 2\r\n')],
    ['v1 missing field', Buffer.from('PROXY TCP4 1.2.3.4 1.2.3.4 1\r\n')],
    ['v2 bad version', Buffer.concat([SIG, Buffer.from([0x31, 0x11, 0, 12]), Buffer.alloc(12)])],
    ['v2 bad command', Buffer.concat([SIG, Buffer.from([0x25, 0x11, 0, 12]), Buffer.alloc(12)])],
    ['v2 too long', Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0xff, 0xff])])],
    ['v2 addresses truncated', Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, 4]), Buffer.alloc(4)])],
    ['v2 TLV truncated', Buffer.concat([SIG, Buffer.from([0x21, 0x11, 0, 14]), Buffer.alloc(14)])],
    ['bad signature', Buffer.concat([Buffer.from('0d0a0d0a000d0a5155495421', 'hex'), Buffer.alloc(8)])],
  ];
  for (const [name, raw] of cases) assert.equal(decodeProxyHeader(raw).kind, 'error', name);
  assert.ok(V2_MAX_BYTES < 65536);
});

test('random bytes never throw and never claim more than they were given', () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 300 }), fc.boolean(), (bytes, prefixed) => {
      const buf = Buffer.from(prefixed ? Buffer.concat([SIG, Buffer.from(bytes)]) : bytes);
      const r = decodeProxyHeader(buf);
      if (r.kind === 'header') assert.ok(r.header.length <= buf.length);
    }),
    { numRuns: 2000 },
  );
});
