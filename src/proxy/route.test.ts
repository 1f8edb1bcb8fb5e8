import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret } from '../core/index.js';
import { resolveRoute, type Fields, type Route, type RouteContext } from './route.js';
import type { BackendTarget } from './types.js';

const SELF = new Set(['127.0.0.1:143', 'imap.self.example:143']);

function route(fields: Fields, over: Partial<RouteContext> = {}): Route {
  return resolveRoute({
    user: 'alice',
    fields,
    password: new Secret('client-pw'),
    defaultPort: 143,
    defaultTlsPort: 993,
    defaultTimeoutMs: 30_000,
    isSelf: (host, port) => SELF.has(`${host}:${port}`),
    ...over,
  });
}

/** The target with the password revealed, so deepStrictEqual compares it. */
function target(fields: Fields, over: Partial<RouteContext> = {}): Omit<BackendTarget, 'password'> & { password?: string } {
  const r = route(fields, over);
  assert.equal(r.kind, 'proxy', `expected a proxy route, got ${JSON.stringify(r)}`);
  const { password, ...rest } = (r as Extract<Route, { kind: 'proxy' }>).target;
  return { ...rest, ...(password ? { password: password.reveal() } : {}) };
}

const BASE = { host: '192.0.2.20', port: 143, tls: 'none', verifyCert: false, user: 'alice', password: 'client-pw', nopipelining: false, notTrusted: false, timeoutMs: 30_000 } as const;

describe('resolveRoute: proxy targets', () => {
  const cases: Array<[string, Fields, Partial<ReturnType<typeof target>>]> = [
    ['proxy + host', { proxy: '', host: '192.0.2.20' }, {}],
    ['proxy=y', { proxy: 'y', host: '192.0.2.20' }, {}],
    ['proxy_maybe to another host', { proxy_maybe: 'y', host: '192.0.2.20' }, {}],
    ['host is trimmed', { proxy: 'y', host: ' 192.0.2.20 ' }, {}],
    ['a host name is kept as given', { proxy: 'y', host: 'imap.example.org' }, { host: 'imap.example.org' }],
    ['port', { proxy: 'y', host: '192.0.2.20', port: '1143' }, { port: 1143 }],
    ['destuser', { proxy: 'y', host: '192.0.2.20', destuser: 'alice@backend' }, { user: 'alice@backend' }],
    ['ssl=yes: implicit, verified, port 993', { proxy: 'y', host: '192.0.2.20', ssl: 'yes' }, { tls: 'implicit', verifyCert: true, port: 993 }],
    ['ssl=yes with a port keeps the port', { proxy: 'y', host: '192.0.2.20', ssl: 'yes', port: '10993' }, { tls: 'implicit', verifyCert: true, port: 10993 }],
    ['ssl=any-cert: implicit, not verified', { proxy: 'y', host: '192.0.2.20', ssl: 'any-cert' }, { tls: 'implicit', verifyCert: false, port: 993 }],
    ['ssl=no: plain', { proxy: 'y', host: '192.0.2.20', ssl: 'no' }, {}],
    ['starttls=yes: starttls on 143, verified', { proxy: 'y', host: '192.0.2.20', starttls: 'yes' }, { tls: 'starttls', verifyCert: true }],
    ['starttls=any-cert', { proxy: 'y', host: '192.0.2.20', starttls: 'any-cert' }, { tls: 'starttls', verifyCert: false }],
    ['ssl=any-cert with starttls=yes: STARTTLS, not verified (as Dovecot)', { proxy: 'y', host: '192.0.2.20', ssl: 'any-cert', starttls: 'yes' }, { tls: 'starttls', verifyCert: false }],
    ['starttls with ssl=yes: starttls wins', { proxy: 'y', host: '192.0.2.20', ssl: 'yes', starttls: 'yes' }, { tls: 'starttls', verifyCert: true }],
    ['proxy_timeout in seconds', { proxy: 'y', host: '192.0.2.20', proxy_timeout: '10' }, { timeoutMs: 10_000 }],
    ['proxy_timeout=500ms', { proxy: 'y', host: '192.0.2.20', proxy_timeout: '500ms' }, { timeoutMs: 500 }],
    ['source_ip', { proxy: 'y', host: '192.0.2.20', source_ip: '198.51.100.7' }, { sourceIp: '198.51.100.7' }],
    ['pass overrides the client password', { proxy: 'y', host: '192.0.2.20', pass: 'backend-pw' }, { password: 'backend-pw' }],
    ['master', { proxy: 'y', host: '192.0.2.20', master: 'admin', pass: 'master-pw' }, { master: 'admin', password: 'master-pw' }],
    ['proxy_mech is upper-cased', { proxy: 'y', host: '192.0.2.20', proxy_mech: 'plain' }, { mech: 'PLAIN' }],
    ['proxy_nopipelining', { proxy: 'y', host: '192.0.2.20', proxy_nopipelining: 'y' }, { nopipelining: true }],
    ['proxy_not_trusted', { proxy: 'y', host: '192.0.2.20', proxy_not_trusted: '' }, { notTrusted: true }],
    ['proxy_maybe on another port of ours', { proxy_maybe: 'y', host: '127.0.0.1', port: '10143' }, { host: '127.0.0.1', port: 10143 }],
  ];
  for (const [title, fields, diff] of cases) {
    it(title, () => assert.deepStrictEqual(target(fields), { ...BASE, ...diff }));
  }

  it('without a client password and without pass, no password', () => {
    assert.deepStrictEqual(target({ proxy: 'y', host: '192.0.2.20' }, { password: undefined }), (({ password: _p, ...rest }) => rest)(BASE));
  });
});

describe('resolveRoute: everything else', () => {
  const cases: Array<[string, Fields, Route]> = [
    ['no fields: local', {}, { kind: 'local' }],
    ['proxy=N is unset', { proxy: 'N' }, { kind: 'local' }],
    ['proxy=no with a host: a referral, as host without proxy', { proxy: 'no', host: '192.0.2.20' }, { kind: 'referral', host: '192.0.2.20', user: 'alice', nologin: false }],
    ['proxy_maybe=0 is unset', { proxy_maybe: '0' }, { kind: 'local' }],
    ['proxy to ourselves: loop', { proxy: 'y', host: '127.0.0.1' }, { kind: 'loop', detail: 'Proxying loops to itself: 127.0.0.1:143' }],
    ['proxy to our name: loop', { proxy: 'y', host: 'imap.self.example' }, { kind: 'loop', detail: 'Proxying loops to itself: imap.self.example:143' }],
    ['proxy_maybe to ourselves: local', { proxy_maybe: 'y', host: '127.0.0.1' }, { kind: 'local' }],
    ['proxy and proxy_maybe to ourselves: loop', { proxy: 'y', proxy_maybe: 'y', host: '127.0.0.1' }, { kind: 'loop', detail: 'Proxying loops to itself: 127.0.0.1:143' }],
    ['proxy without host: invalid', { proxy: 'y' }, { kind: 'invalid', detail: 'proxy requested but the passdb gave no host' }],
    ['proxy with an empty host: invalid', { proxy: 'y', host: ' ' }, { kind: 'invalid', detail: 'proxy requested but the passdb gave no host' }],
    ['bad port: invalid', { proxy: 'y', host: 'h', port: 'imap' }, { kind: 'invalid', detail: 'invalid port=imap' }],
    ['port 0: invalid', { proxy: 'y', host: 'h', port: '0' }, { kind: 'invalid', detail: 'invalid port=0' }],
    ['port 65536: invalid', { proxy: 'y', host: 'h', port: '65536' }, { kind: 'invalid', detail: 'invalid port=65536' }],
    ['ssl=maybe: invalid', { proxy: 'y', host: 'h', ssl: 'maybe' }, { kind: 'invalid', detail: 'ssl=maybe (expected yes or any-cert)' }],
    ['starttls=sometimes: invalid', { proxy: 'y', host: 'h', starttls: 'sometimes' }, { kind: 'invalid', detail: 'starttls=sometimes (expected yes or any-cert)' }],
    ['proxy_timeout=soon: invalid', { proxy: 'y', host: 'h', proxy_timeout: 'soon' }, { kind: 'invalid', detail: 'invalid proxy_timeout=soon' }],
    ['proxy_timeout=0: invalid', { proxy: 'y', host: 'h', proxy_timeout: '0' }, { kind: 'invalid', detail: 'invalid proxy_timeout=0' }],
    ['source_ip not an address: invalid', { proxy: 'y', host: 'h', source_ip: 'eth0' }, { kind: 'invalid', detail: 'invalid source_ip=eth0' }],
    ['nologin', { nologin: 'y' }, { kind: 'nologin' }],
    ['nologin with reason', { nologin: 'y', reason: 'Account moved' }, { kind: 'nologin', reason: 'Account moved' }],
    ['reason alone: local', { reason: 'ignored' }, { kind: 'local' }],
    ['host without proxy: referral', { host: 'new.example.org' }, { kind: 'referral', host: 'new.example.org', user: 'alice', nologin: false }],
    ['referral keeps a non-default port', { host: 'new.example.org', port: '1143' }, { kind: 'referral', host: 'new.example.org', port: 1143, user: 'alice', nologin: false }],
    ['referral drops the default port', { host: 'new.example.org', port: '143' }, { kind: 'referral', host: 'new.example.org', user: 'alice', nologin: false }],
    ['referral with nologin, reason and destuser', { host: 'new.example.org', nologin: 'y', reason: 'Moved', destuser: 'al' }, { kind: 'referral', host: 'new.example.org', user: 'al', nologin: true, reason: 'Moved' }],
  ];
  for (const [title, fields, expected] of cases) {
    it(title, () => assert.deepStrictEqual(route(fields), expected));
  }
});
