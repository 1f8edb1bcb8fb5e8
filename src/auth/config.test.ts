import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { passdbListSchema, passdbSpecSchema } from './config.js';

describe('passdbSpecSchema', () => {
  it('fills Dovecot defaults', () => {
    assert.deepEqual(passdbSpecSchema.parse({ driver: 'static' }), {
      driver: 'static',
      args: '',
      default_fields: '',
      override_fields: '',
      deny: false,
      result_success: 'return-ok',
      result_failure: 'continue',
      result_internalfail: 'continue',
    });
  });
  const good: ReadonlyArray<[input: unknown, deny: boolean]> = [
    [{ driver: 'passwd-file', args: '/etc/users', deny: 'yes' }, true],
    [{ driver: 'passwd-file', args: '/etc/users', deny: true }, true],
    [{ driver: 'passwd-file', args: '/etc/users', deny: 'no', name: 'main' }, false],
  ];
  for (const [input, deny] of good) {
    it(`accepts ${JSON.stringify(input)}`, () => assert.equal(passdbSpecSchema.parse(input).deny, deny));
  }
  const bad: ReadonlyArray<[input: unknown, path: string]> = [
    [{}, 'driver'],
    [{ driver: 'nosuch' }, 'driver'],
    [{ driver: 'sql' }, 'sql'],
    [{ driver: 'static', bogus: 1 }, ''],
    [{ driver: 'static', result_success: 'maybe' }, 'result_success'],
    [{ driver: 'static', deny: 'perhaps' }, 'deny'],
    [{ driver: 'static', args: 5 }, 'args'],
    [{ driver: 'static', name: '' }, 'name'],
  ];
  for (const [input, path] of bad) {
    it(`rejects ${JSON.stringify(input)} at "${path}"`, () => {
      const r = passdbSpecSchema.safeParse(input);
      assert.equal(r.success, false);
      assert.ok(r.error?.issues.some((i) => i.path.join('.') === path), JSON.stringify(r.error?.issues));
    });
  }
  it('a chain needs at least one passdb', () => {
    assert.equal(passdbListSchema.safeParse([]).success, false);
  });
});
