import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isLoopback, NetworkList, normalizeIp } from './address.js';

test('network lists: IPv4 prefixes on integers, IPv6 through BlockList', () => {
  const nets = new NetworkList(['10.0.0.0/8', '192.0.2.7', '198.51.100.128/25', '0.0.0.0/0', '2001:db8::/32', '::1']);
  const only = new NetworkList(['10.0.0.0/8', '192.0.2.7', '198.51.100.128/25', '2001:db8::/32']);
  const cases: Array<[string, boolean]> = [
    ['10.1.2.3', true], ['11.0.0.1', false], ['192.0.2.7', true], ['192.0.2.8', false],
    ['198.51.100.128', true], ['198.51.100.255', true], ['198.51.100.127', false],
    ['2001:db8::5', true], ['2001:db9::5', false], ['not-an-ip', false], ['', false], ['1.2.3.256', false],
    ['010.1.2.3', true], ['10.1.2', false], ['10.1.2.3.4', false], ['10..2.3', false], ['10.1.2.', false], ['.10.1.2', false],
    ['0010.1.2.3', false], ['10.1.2.3 ', false], ['10.1.2.-3', false], ['10.300.2.3', false],
  ];
  for (const [ip, want] of cases) assert.equal(only.has(ip), want, ip);
  assert.equal(nets.has('203.0.113.1'), true, '0.0.0.0/0 holds every IPv4 address');
  assert.equal(new NetworkList([]).has('127.0.0.1'), false);
  assert.equal(isLoopback('127.5.5.5'), true);
  assert.equal(isLoopback('::1'), true);
  assert.equal(isLoopback('128.0.0.1'), false);
  assert.equal(normalizeIp('::ffff:192.0.2.1'), '192.0.2.1');
});
