import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { Secret } from '../core/index.js';
import type { AuthRequest } from './types.js';
import { expandVars, expandVarsDetailed, findUnknownVars, varContextFromRequest, type VarContext } from './vars.js';

const req: AuthRequest = {
  service: 'imap',
  mech: 'PLAIN',
  user: 'John.Doe@Example.COM',
  password: new Secret('pa\'ss'),
  remoteIp: '192.0.2.10',
  remotePort: 54321,
  localIp: '198.51.100.1',
  localPort: 143,
  secured: true,
  session: 'Sx1',
};
const ctx: VarContext = {
  ...varContextFromRequest(req, { host: '10.0.0.5', userdb_home: '/home/j', empty: '' }),
  env: { POSTERN_TEST: 'envval' },
};

describe('expandVars: variables', () => {
  const table: ReadonlyArray<[template: string, want: string]> = [
    ['%u', 'John.Doe@Example.COM'],
    ['%n|%d', 'John.Doe|Example.COM'],
    ['%{user}|%{username}|%{domain}', 'John.Doe@Example.COM|John.Doe|Example.COM'],
    ['%s %m %c', 'imap PLAIN secured'],
    ['%{service}/%{mech}/%{mechanism}/%{secured}', 'imap/PLAIN/PLAIN/secured'],
    ['%r:%b -> %l:%a', '192.0.2.10:54321 -> 198.51.100.1:143'],
    ['%{rip}:%{rport} %{lip}:%{lport}', '192.0.2.10:54321 198.51.100.1:143'],
    ['%{remote_ip}:%{remote_port} %{local_ip}:%{local_port}', '192.0.2.10:54321 198.51.100.1:143'],
    ['%w|%{password}', "pa'ss|pa'ss"],
    ['%{session}', 'Sx1'],
    ['100%%', '100%'],
    ['%%u', '%u'],
    ['%{passdb:host}', '10.0.0.5'],
    ['%{passdb:missing:dflt}|%{passdb:empty:dflt}|%{passdb:missing}', 'dflt||'],
    ['%{userdb:home}', '/home/j'],
    ['%{env:POSTERN_TEST}|%{env:NOPE}', 'envval|'],
    ['%{passdb:constructor}', ''],
    ['%{original_user}', 'John.Doe@Example.COM'],
    ['plain text', 'plain text'],
    ['', ''],
    ['trailing %', 'trailing '],
  ];
  for (const [template, want] of table) {
    it(JSON.stringify(template), () => assert.equal(expandVars(template, ctx), want));
  }

  it('domain rules for odd user names', () => {
    const c = (user: string): VarContext => ({ ...ctx, user });
    assert.equal(expandVars('%n|%d', c('plain')), 'plain|');
    assert.equal(expandVars('%n|%d|%{domain_first}|%{domain_last}', c('a@b@c')), 'a|b@c|b|c');
    assert.equal(expandVars('%c', { ...ctx, secured: false }), '');
    assert.equal(expandVars('%w', { ...ctx, password: undefined }), '');
  });
});

describe('expandVars: modifiers', () => {
  const md5 = (s: string) => createHash('md5').update(s).digest('hex');
  const table: ReadonlyArray<[template: string, want: string]> = [
    ['%Lu', 'john.doe@example.com'],
    ['%Ud', 'EXAMPLE.COM'],
    ['%L{user}', 'john.doe@example.com'],
    ['%U{service}', 'IMAP'],
    ['%Ew', "pa\\'ss"],
    ['%Rn', 'eoD.nhoJ'],
    ['%LRn', 'eod.nhoj'],
    ['%Mu', md5('John.Doe@Example.COM')],
    ['%Dd', 'Example,dc=COM'],
    ['%Xb', 'd431'],
    ['%Xu', '0'],
    ['%2u', 'Jo'],
    ['%2.1u', 'h'],
    ['%-3.3d', 'COM'],
    ['%0.-4d', 'Example'],
    ['%05a', '00143'],
    ['%1.04a', '0043'],
    ['%20.2u', ''],
    ['%-99.3u', 'Joh'],
  ];
  for (const [template, want] of table) {
    it(JSON.stringify(template), () => assert.equal(expandVars(template, ctx), want));
  }

  it('%N: MD5-based hash, optionally mod width and zero-padded', () => {
    const n = createHash('md5').update('John.Doe@Example.COM').digest().readBigUInt64BE(0);
    assert.equal(expandVars('%Nu', ctx), (n & 0xffffffffn).toString(16));
    assert.equal(expandVars('%256Nu', ctx), (n % 256n).toString(16));
    assert.equal(expandVars('%4.256Nu', ctx), (n % 256n).toString(16).padStart(4, '0'));
  });
  it('%T trims trailing whitespace', () => {
    assert.equal(expandVars('[%Tu]', { ...ctx, user: 'x \t\n' }), '[x]');
  });
});

describe('expandVars: unknown variables, as Dovecot 2.3', () => {
  const table: ReadonlyArray<[template: string, value: string, unknown: string[]]> = [
    ['a%qb', 'ab', ['%q']],
    ['%{nosuch}', 'UNSUPPORTED_VARIABLE_nosuch', ['%{nosuch}']],
    ['%L{nosuch:arg}', 'unsupported_variable_nosuch', ['%{nosuch:arg}']],
    ['%{real_rip}', 'UNSUPPORTED_VARIABLE_real_rip', ['%{real_rip}']],
    ['%Hu', 'u', ['%H']],
    ['%{user', 'user', ['%{']],
    ['%{a{b}c}d', 'UNSUPPORTED_VARIABLE_a{b}c' + 'd', ['%{a{b}c}']],
    ['%{open{x', 'open{x', ['%{']],
    ['%{a{b}', 'UNSUPPORTED_VARIABLE_a{b}', ['%{a{b}}']],
  ];
  for (const [template, value, unknown] of table) {
    it(JSON.stringify(template), () => assert.deepEqual(expandVarsDetailed(template, ctx), { value, unknown }));
  }
  it('findUnknownVars for config checks', () => {
    assert.deepEqual(findUnknownVars('/etc/%d/passwd %{passdb:x} %{env:HOME}'), []);
    assert.deepEqual(findUnknownVars('%z %{bogus}'), ['%z', '%{bogus}']);
  });
});

describe('expandVars: escape', () => {
  const sql = (v: string) => v.replace(/'/g, "''");
  it('applies to every substituted value, after modifiers', () => {
    assert.equal(expandVars("SELECT '%w' '%Rw' '%%'", ctx, sql), "SELECT 'pa''ss' 'ss''ap' '%'");
  });
  it('does not touch the template text', () => {
    assert.equal(expandVars("it's %s", ctx, sql), "it's imap");
  });
});

describe('expandVars: properties', () => {
  it('never throws; text without % is unchanged', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 60 }), (t) => {
        const r = expandVarsDetailed(t, ctx);
        if (!t.includes('%')) assert.equal(r.value, t);
      }),
      { numRuns: 1000 },
    );
  });
  it('an escape that quotes everything leaves no unquoted value', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 30 }), (user) => {
        const out = expandVars('%u', { ...ctx, user }, (v) => `<${v.replace(/[<>]/g, '')}>`);
        assert.equal(out, `<${user.replace(/[<>]/g, '')}>`);
      }),
    );
  });
});
