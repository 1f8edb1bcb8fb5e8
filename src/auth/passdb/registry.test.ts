import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { makeAuthRequest } from '../testing.js';
import type { Passdb, PassdbResult } from '../types.js';
import { createPassdb, getPassdbDriver, listPassdbDrivers } from './registry.js';
import { withFields } from './with-fields.js';

const fixed = (r: PassdbResult | (() => never)): Passdb => ({
  name: 'fixed',
  lookup: async () => (typeof r === 'function' ? r() : r),
  close: async () => {},
});

const run = (r: PassdbResult, default_fields: string, override_fields: string, user = 'alice@example.com') =>
  withFields(fixed(r), { default_fields, override_fields }).lookup(makeAuthRequest({ user }));

describe('passdb registry', () => {
  it('knows static and passwd-file', () => {
    // Inclusion, not the exact list: each driver added is one more entry.
    for (const d of ['passwd-file', 'static', 'ldap']) assert.ok(listPassdbDrivers().includes(d), d);
    assert.equal(getPassdbDriver('static')?.driver, 'static');
    assert.equal(getPassdbDriver('sql')?.driver, 'sql');
    assert.equal(getPassdbDriver('nosuch'), undefined);
  });
  it('refuses an unknown driver', () => {
    assert.throws(
      () => createPassdb({ driver: 'nope', args: '', default_fields: '', override_fields: '', deny: false, result_success: 'return-ok', result_failure: 'continue', result_internalfail: 'continue' }, {}),
      { code: 'AUTH_CONFIG' },
    );
  });
});

describe('default_fields and override_fields', () => {
  const found = (fields: Record<string, string>, password: string | null = '{PLAIN}x'): PassdbResult => ({ kind: 'found', password, fields });
  const table: ReadonlyArray<{ name: string; r: PassdbResult; d: string; o: string; want: PassdbResult }> = [
    { name: 'defaults fill gaps only', r: found({ port: '993' }), d: 'port=10143 proxy=y', o: '', want: found({ port: '993', proxy: 'y' }) },
    { name: 'overrides win', r: found({ host: 'a' }), d: '', o: 'host=b', want: found({ host: 'b' }) },
    { name: 'variables expand', r: found({}), d: 'host=%d.backend', o: 'destuser=%Ln', want: found({ host: 'example.com.backend', destuser: 'alice' }) },
    { name: 'overrides see the renamed user', r: found({ user: 'bob@example.org' }), d: '', o: 'destuser=%u', want: { kind: 'found', user: 'bob@example.org', password: '{PLAIN}x', fields: { destuser: 'bob@example.org' } } },
    { name: 'override renames', r: found({}), d: '', o: 'domain=example.net', want: { kind: 'found', user: 'alice@example.net', password: '{PLAIN}x', fields: {} } },
    { name: 'default password only when the driver has none', r: found({}, null), d: 'password=dflt', o: '', want: found({}, '{PLAIN}dflt') },
    { name: 'driver password beats the default', r: found({}), d: 'password=dflt', o: '', want: found({}) },
    { name: 'override password replaces', r: found({}), d: '', o: 'password={PLAIN-MD5}00', want: found({}, '{PLAIN-MD5}00') },
    { name: 'applies to ok results too', r: { kind: 'ok', fields: {} }, d: 'proxy=y', o: '', want: { kind: 'ok', fields: { proxy: 'y' } } },
    { name: 'failures pass through', r: { kind: 'userUnknown' }, d: 'proxy=y', o: 'x=y', want: { kind: 'userUnknown' } },
    { name: 'unknown variable is tempFail', r: found({}), d: '', o: 'host=%{nosuch}', want: { kind: 'tempFail', reason: 'override_fields: unknown variable %{nosuch} in host=' } },
  ];
  for (const c of table) {
    it(c.name, async () => assert.deepEqual(await run(c.r, c.d, c.o), c.want));
  }
  it('a throwing driver becomes tempFail', async () => {
    const r = await withFields(fixed(() => { throw new Error('boom'); }), { default_fields: '', override_fields: '' }).lookup(makeAuthRequest());
    assert.deepEqual(r, { kind: 'tempFail', reason: 'lookup failed: boom' });
  });
});
