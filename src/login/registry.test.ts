import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SessionRegistry, sessionMatcher, type SessionInfo } from './registry.js';

const base: SessionInfo = { id: 'a', protocol: 'imap', listener: 'imap', rip: '192.0.2.7', rport: 5000, lip: '127.0.0.1', lport: 143, state: 'proxying', since: 0, bytesIn: 0, bytesOut: 0 };
const inNet = (ip: string, cidr: string) => cidr === '192.0.2.0/24' && ip.startsWith('192.0.2.');

test('sessionMatcher: every given field must match', () => {
  const s: SessionInfo = { ...base, user: 'Alice@example.org', backend: '10.0.0.1:143' };
  const cases: Array<[Parameters<typeof sessionMatcher>[0], boolean]> = [
    [{}, true],
    [{ user: 'Alice@example.org' }, true],
    [{ user: 'alice@example.org' }, false],
    [{ user: '*@example.org' }, true],
    [{ user: 'b*' }, false],
    [{ rip: '192.0.2.7' }, true],
    [{ rip: '192.0.2.8' }, false],
    [{ rip: '192.0.2.0/24' }, true],
    [{ backend: '10.0.0.1' }, true],
    [{ backend: '10.0.0.1:143' }, true],
    [{ backend: '10.0.0.1:993' }, false],
    [{ backend: '10.0.0.2' }, false],
    [{ protocol: 'pop3' }, false],
    [{ user: 'Alice@example.org', backend: '10.0.0.2' }, false],
  ];
  for (const [filter, want] of cases) assert.equal(sessionMatcher(filter, inNet)(s), want, JSON.stringify(filter));
});

test('sessionMatcher: a session before login has no user or backend to match', () => {
  const s: SessionInfo = { ...base, state: 'login' };
  assert.equal(sessionMatcher({ user: '*' }, inNet)(s), false);
  assert.equal(sessionMatcher({ backend: '10.0.0.1' }, inNet)(s), false);
  assert.equal(sessionMatcher({ rip: '192.0.2.7' }, inNet)(s), true);
});

test('SessionRegistry: kick ends the matching sessions only, with the reason', () => {
  const reg = new SessionRegistry();
  const ended: string[] = [];
  const mk = (id: string, user: string) => {
    const t = { info: () => ({ ...base, id, user }), destroy: (r: string) => { ended.push(`${id}:${r}`); reg.delete(t); } };
    reg.add(t);
  };
  mk('1', 'alice');
  mk('2', 'bob');
  mk('3', 'alice');
  assert.equal(reg.kick(sessionMatcher({ user: 'alice' }, inNet)), 2);
  assert.deepEqual(ended, ['1:kicked', '3:kicked']);
  assert.deepEqual(reg.list().map((s) => s.id), ['2']);
  reg.destroyAll('shutdown');
  assert.equal(reg.size, 0);
  assert.deepEqual(ended.at(-1), '2:shutdown');
});
