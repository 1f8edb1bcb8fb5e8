import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { pino } from 'pino';
import { ChainAuthenticator, createAuthenticator, type ChainEntry } from './authenticator.js';
import { passdbSpecSchema, type PassdbSpecInput } from './config.js';
import type { AuthLogger } from './deps.js';
import { MemoryAuthenticator, MemoryPassdb } from './memory.js';
import { makeAuthRequest } from './testing.js';
import type { AuthResult, Passdb, PassdbResult } from './types.js';

/** A passdb that always answers `r`, and counts its lookups. */
function fixed(r: PassdbResult, name = 'fixed'): Passdb & { calls: string[] } {
  const calls: string[] = [];
  return { name, calls, lookup: async (req) => (calls.push(req.user), r), close: async () => {} };
}
const found = (password: string | null, fields: Record<string, string> = {}): PassdbResult => ({ kind: 'found', password, fields });
const UNKNOWN: PassdbResult = { kind: 'userUnknown' };
const TEMPFAIL: PassdbResult = { kind: 'tempFail', reason: 'db down' };

function capture(): AuthLogger & { lines: unknown[] } {
  const lines: unknown[] = [];
  const log = (level: string) => (obj: object, msg?: string) => void lines.push({ level, ...obj, msg });
  const l = { lines, debug: log('debug'), info: log('info'), warn: log('warn'), error: log('error'), child: () => l };
  return l;
}

const auth = (entries: Array<ChainEntry | Passdb>, password = 'right', user = 'alice@example.com', log?: AuthLogger) =>
  new ChainAuthenticator(entries.map((e) => ('passdb' in e ? e : { passdb: e })), log ? { log } : {}).authenticate(
    makeAuthRequest({ user, password }),
  );

const ok = (fields: Record<string, string> = {}, user = 'alice@example.com', passwordVerified = true): AuthResult => ({ kind: 'ok', user, fields, passwordVerified });
/** A success that rests on nopassword or a proxy's NULL password: nobody checked the password. */
const unchecked = (fields: Record<string, string> = {}, user = 'alice@example.com'): AuthResult => ok(fields, user, false);
const fail = (reason: 'passwordMismatch' | 'userUnknown' | 'userDisabled', message?: string): AuthResult => ({
  kind: 'fail', reason, ...(message ? { message } : {}), fields: {},
});

describe('authenticator: one passdb', () => {
  const table: ReadonlyArray<{ name: string; r: PassdbResult; password?: string; want: AuthResult }> = [
    { name: 'right password', r: found('{PLAIN}right', { host: 'h' }), want: ok({ host: 'h' }) },
    { name: 'wrong password', r: found('{PLAIN}right'), password: 'wrong', want: fail('passwordMismatch') },
    { name: 'bare password is PLAIN', r: found('right'), want: ok() },
    { name: 'unknown user', r: UNKNOWN, want: fail('userUnknown') },
    { name: 'tempFail', r: TEMPFAIL, want: { kind: 'tempFail', reason: 'db down' } },
    { name: 'nopassword accepts anything', r: found(null, { nopassword: 'y' }), password: 'any', want: unchecked() },
    { name: 'nopassword with empty value', r: found(null, { nopassword: '' }), password: 'any', want: unchecked() },
    { name: 'nopassword=n does not', r: found(null, { nopassword: 'n' }), password: 'any', want: fail('passwordMismatch') },
    { name: 'nopassword with an empty {PLAIN}', r: found('{PLAIN}', { nopassword: 'y' }), password: 'any', want: unchecked() },
    { name: 'a real password beats nopassword', r: found('{PLAIN}right', { nopassword: 'y' }), password: 'any', want: fail('passwordMismatch') },
    { name: 'NULL password without proxy', r: found(null), want: fail('passwordMismatch') },
    { name: 'NULL password with proxy: the backend checks', r: found(null, { proxy: 'y', host: 'b' }), password: 'any', want: unchecked({ proxy: 'y', host: 'b' }) },
    { name: 'NULL password with proxy_maybe', r: found(null, { proxy_maybe: 'y' }), password: 'any', want: unchecked({ proxy_maybe: 'y' }) },
    { name: 'NULL password with proxy=n', r: found(null, { proxy: 'n' }), want: fail('passwordMismatch') },
    { name: 'user= renames', r: found('{PLAIN}right', { user: 'Alice@Example.com' }), want: ok({}, 'Alice@Example.com') },
    { name: 'result user renames', r: { kind: 'found', user: 'bob', password: '{PLAIN}right', fields: {} }, want: ok({}, 'bob') },
    { name: 'rename to empty is refused', r: found('{PLAIN}right', { user: '' }), want: fail('userUnknown') },
    { name: 'nologin is a success; the front decides', r: found('{PLAIN}right', { nologin: 'y', reason: 'moved' }), want: ok({ nologin: 'y', reason: 'moved' }) },
    { name: 'fail field', r: found('{PLAIN}right', { fail: 'y' }), want: fail('userUnknown') },
    { name: 'allow_nets match', r: found('{PLAIN}right', { allow_nets: '192.0.2.0/24' }), want: ok({ allow_nets: '192.0.2.0/24' }) },
    { name: 'allow_nets mismatch', r: found('{PLAIN}right', { allow_nets: '10.0.0.0/8' }), want: fail('userUnknown') },
    { name: 'unknown scheme is a temporary failure', r: found('{NOPE}x'), want: { kind: 'tempFail', reason: 'unknown password scheme NOPE' } },
    { name: 'ok from a self-checking driver', r: { kind: 'ok', fields: { proxy: 'y' } }, want: ok({ proxy: 'y' }) },
    { name: 'mismatch from a self-checking driver with reason', r: { kind: 'passwordMismatch', fields: { reason: 'Account locked' } }, want: fail('passwordMismatch', 'Account locked') },
    { name: 'userDisabled with reason', r: { kind: 'userDisabled', reason: 'Expired' }, want: fail('userDisabled', 'Expired') },
  ];
  for (const c of table) {
    it(c.name, async () => assert.deepEqual(await auth([fixed(c.r)], c.password ?? 'right'), c.want));
  }

  it('a found user without a password in the request fails', async () => {
    const a = new ChainAuthenticator([{ passdb: fixed(found('{PLAIN}x')) }]);
    assert.deepEqual(await a.authenticate(makeAuthRequest()), fail('passwordMismatch'));
  });

  it('a throwing passdb is a temporary failure', async () => {
    const boom: Passdb = { name: 'boom', lookup: async () => { throw new Error('bug'); }, close: async () => {} };
    assert.equal((await auth([boom])).kind, 'tempFail');
  });
});

describe('authenticator: chain', () => {
  it('unknown in the first, found in the second', async () => {
    const a = fixed(UNKNOWN);
    const b = fixed(found('{PLAIN}right', { host: 'b' }));
    assert.deepEqual(await auth([a, b]), ok({ host: 'b' }));
    assert.equal(a.calls.length, 1);
  });
  it('wrong password in the first, right in the second', async () => {
    assert.deepEqual(await auth([fixed(found('{PLAIN}other')), fixed(found('{PLAIN}right'))]), ok());
  });
  it('the first success wins (return-ok)', async () => {
    const b = fixed(found('{PLAIN}right', { host: 'b' }));
    assert.deepEqual(await auth([fixed(found('{PLAIN}right', { host: 'a' })), b]), ok({ host: 'a' }));
    assert.equal(b.calls.length, 0);
  });
  it('tempFail in the first, unknown in the second: tempFail', async () => {
    assert.equal((await auth([fixed(TEMPFAIL), fixed(UNKNOWN)])).kind, 'tempFail');
  });
  it('tempFail in the first, wrong password in the second: tempFail', async () => {
    assert.equal((await auth([fixed(TEMPFAIL), fixed(found('{PLAIN}x'))])).kind, 'tempFail');
  });
  it('tempFail in the first, success in the second: ok', async () => {
    assert.deepEqual(await auth([fixed(TEMPFAIL), fixed(found('{PLAIN}right'))]), ok());
  });
  it('last failure decides when nothing failed temporarily', async () => {
    assert.deepEqual(await auth([fixed(found('{PLAIN}x')), fixed(UNKNOWN)]), fail('userUnknown'));
  });
  it('userDisabled stops the chain', async () => {
    const b = fixed(found('{PLAIN}right'));
    assert.deepEqual(await auth([fixed({ kind: 'userDisabled' }), b]), fail('userDisabled'));
    assert.equal(b.calls.length, 0);
  });
  it('a deny passdb refuses users it knows, lets others through', async () => {
    const deny = { passdb: fixed(found(null)), deny: true };
    assert.deepEqual(await auth([deny, fixed(found('{PLAIN}right'))]), fail('userDisabled'));
    assert.deepEqual(await auth([{ passdb: fixed(UNKNOWN), deny: true }, fixed(found('{PLAIN}right'))]), ok());
    assert.equal((await auth([{ passdb: fixed(TEMPFAIL), deny: true }, fixed(found('{PLAIN}right'))])).kind, 'tempFail');
  });
  it('result_success=continue: the next passdb adds fields without a password check, after a rename', async () => {
    const b = fixed(found('{PLAIN}something-else', { host: 'b' }));
    const r = await auth([{ passdb: fixed(found('{PLAIN}right', { user: 'bob', a: '1' })), resultSuccess: 'continue-ok' }, b]);
    assert.deepEqual(r, ok({ a: '1', host: 'b' }, 'bob'));
    assert.deepEqual(b.calls, ['bob']);
  });
  it('result_success=continue-ok then a failure: still ok, with the good fields only', async () => {
    const r = await auth([{ passdb: fixed(found('{PLAIN}right', { a: '1' })), resultSuccess: 'continue-ok' }, fixed(UNKNOWN)]);
    assert.deepEqual(r, ok({ a: '1' }));
  });
  it('result_failure=return-fail stops at the first failure', async () => {
    const r = await auth([{ passdb: fixed(UNKNOWN), resultFailure: 'return-fail' }, fixed(found('{PLAIN}right'))]);
    assert.deepEqual(r, fail('userUnknown'));
  });
  it('result_internalfail=return-fail makes a temporary failure final', async () => {
    const r = await auth([{ passdb: fixed(TEMPFAIL), resultInternalfail: 'return-fail' }, fixed(found('{PLAIN}right'))]);
    assert.equal(r.kind, 'tempFail');
  });
  it('the failed passdb fields are dropped, nopassword never leaks', async () => {
    const r = await auth([fixed(found('{PLAIN}x', { leak: 'y' })), fixed(found(null, { nopassword: 'y' }))]);
    assert.deepEqual(r, unchecked());
  });
});

describe('authenticator: logging', () => {
  it('logs temporary failures with the passdb name and never a password', async () => {
    const log = capture();
    await auth([fixed(TEMPFAIL, 'sql main'), fixed(found('{PLAIN}stored-secret', { pass: 'master-secret' }))], 'typed-secret', 'u', log);
    await auth([fixed(found('{NOPE}stored-secret'))], 'typed-secret', 'u', log);
    const text = JSON.stringify(log.lines);
    assert.match(text, /sql main/);
    assert.match(text, /db down/);
    for (const secret of ['stored-secret', 'master-secret', 'typed-secret']) assert.ok(!text.includes(secret), secret);
  });
  it('accepts a pino logger', async () => {
    const a = new ChainAuthenticator([{ passdb: fixed(UNKNOWN) }], { log: pino({ level: 'silent' }) });
    assert.equal((await a.authenticate(makeAuthRequest({ password: 'x' }))).kind, 'fail');
  });
});

describe('MemoryAuthenticator', () => {
  const users = {
    'alice@example.com': { password: 'right', fields: { proxy: 'y', host: '10.0.0.5' } },
    'bob@example.com': { password: '{PLAIN-MD5}878dbbe33344c71d1ac4ddf62032c641' },
    'carol@example.com': { password: null, fields: { proxy: 'y' } },
  };
  const m = new MemoryAuthenticator(users);
  const table: ReadonlyArray<[user: string, password: string, want: AuthResult['kind'] | 'mismatch']> = [
    ['alice@example.com', 'right', 'ok'],
    ['alice@example.com', 'wrong', 'mismatch'],
    ['bob@example.com', 'Sécret p@ss', 'ok'],
    ['carol@example.com', 'anything', 'ok'],
    ['dave@example.com', 'x', 'fail'],
  ];
  for (const [user, password, want] of table) {
    it(`${user} / ${password}`, async () => {
      const r = await m.authenticate(makeAuthRequest({ user, password }));
      assert.equal(r.kind === 'fail' && r.reason === 'passwordMismatch' ? 'mismatch' : r.kind, want);
    });
  }
  it('says whether the password was checked', async () => {
    const alice = await m.authenticate(makeAuthRequest({ password: 'right' }));
    const carol = await m.authenticate(makeAuthRequest({ user: 'carol@example.com', password: 'anything' }));
    assert.ok(alice.kind === 'ok' && alice.passwordVerified);
    assert.ok(carol.kind === 'ok' && !carol.passwordVerified);
  });
  it('returns the fields of the user', async () => {
    assert.deepEqual(await m.authenticate(makeAuthRequest({ password: 'right' })), ok({ proxy: 'y', host: '10.0.0.5' }));
  });
  it('MemoryPassdb accepts a Map', async () => {
    const p = new MemoryPassdb(new Map([['x', { password: 'y' }]]));
    assert.deepEqual(await p.lookup({ user: 'x' }), found('{PLAIN}y'));
  });
  it('close is idempotent', async () => {
    await m.close();
    await m.close();
  });
});

describe('createAuthenticator', () => {
  it('builds the chain from config specs', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'postern-auth-'));
    try {
      // Hash made by doveadm pw -s SHA512-CRYPT -r 10000 -p secret
      const hash = '$6$rounds=10000$t5FkF.MtdVlWjYvS$WQ8r8eQsisjpA1xuJ1pjy0MIQKB1ySQ1BT0G1tgPGp3IAfThPCe9OtbZTei9TbIEFt845tU7o9bHTwYBkKjNS0';
      await writeFile(join(dir, 'users'), `alice@example.com:${hash}::::::host=10.0.0.7\n`);
      const specs: PassdbSpecInput[] = [
        { driver: 'passwd-file', args: join(dir, 'users'), override_fields: 'proxy=y', default_fields: 'port=10143 host=default' },
        { driver: 'static', args: 'nopassword=y', default_fields: 'proxy=y host=catchall', name: 'catch-all' },
      ];
      const a = createAuthenticator(specs.map((s) => passdbSpecSchema.parse(s)));
      assert.deepEqual(await a.authenticate(makeAuthRequest({ password: 'secret' })), ok({ port: '10143', host: '10.0.0.7', proxy: 'y' }));
      // Wrong password in the file: the static catch-all proxies anyway (its backend checks).
      assert.deepEqual(await a.authenticate(makeAuthRequest({ password: 'nope' })), unchecked({ proxy: 'y', host: 'catchall' }));
      await a.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
