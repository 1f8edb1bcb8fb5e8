import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PosternError } from '../core/index.js';
import { adminConfigSchema, parseAdminListen, type AdminConfig } from './config.js';
import { adminToken } from './token.js';

const TOKEN = 'sixteen-chars-ok';
const problems = (input: unknown) => {
  const r = adminConfigSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
};

describe('admin config', () => {
  it('reads TCP addresses and socket paths', () => {
    assert.deepEqual(parseAdminListen('127.0.0.1:8080'), { kind: 'tcp', host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseAdminListen('[::1]:9'), { kind: 'tcp', host: '::1', port: 9 });
    assert.deepEqual(parseAdminListen('localhost:0'), { kind: 'tcp', host: 'localhost', port: 0 });
    assert.deepEqual(parseAdminListen('./admin.sock'), { kind: 'unix', path: './admin.sock' });
    for (const bad of ['8080', 'host.example:80', '127.0.0.1:70000', '::1:80', '127.0.0.1']) assert.equal(parseAdminListen(bad).kind, 'invalid', bad);
  });

  it('refuses a non-loopback address unless allow_remote', () => {
    assert.deepEqual(problems({ listen: '127.0.0.1:8080', token: TOKEN }), []);
    assert.deepEqual(problems({ listen: '[::1]:8080', token: TOKEN }), []);
    assert.match(problems({ listen: '0.0.0.0:8080', token: TOKEN }).join(), /listen: 0\.0\.0\.0 is not a loopback address.*allow_remote/);
    assert.match(problems({ listen: '192.0.2.1:8080', token: TOKEN }).join(), /not a loopback/);
    assert.deepEqual(problems({ listen: '0.0.0.0:8080', token: TOKEN, allow_remote: true }), []);
    assert.deepEqual(problems({ listen: '/run/postern/admin.sock', token: TOKEN }), []);
  });

  it('wants exactly one of token, token_file, token_env, and a token of 16 characters', () => {
    assert.match(problems({ listen: '127.0.0.1:1' }).join(), /token: give exactly one/);
    assert.match(problems({ listen: '127.0.0.1:1', token: TOKEN, token_file: 'x' }).join(), /token_file: give exactly one/);
    assert.match(problems({ listen: '127.0.0.1:1', token: 'short' }).join(), /token:/);
    assert.match(problems({ listen: '127.0.0.1:1', token_env: 'A-B' }).join(), /environment variable name/);
    const parsed = adminConfigSchema.parse({ listen: '127.0.0.1:1', token: TOKEN });
    assert.equal(parsed.metrics_token_required, true, 'metrics need the token by default');
    assert.equal(parsed.allow_remote, false);
  });

  it('reads the token from a file or the environment, and refuses a short or missing one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-admin-token-'));
    try {
      const base: AdminConfig = { listen: '127.0.0.1:1', allow_remote: false, metrics_token_required: true };
      writeFileSync(join(dir, 'token'), `  ${TOKEN}\n`);
      const resolve = (p: string) => join(dir, p);
      assert.equal(adminToken({ ...base, token_file: 'token' }, resolve).reveal(), TOKEN);
      assert.equal(adminToken({ ...base, token_env: 'T' }, resolve, { T: TOKEN }).reveal(), TOKEN);
      writeFileSync(join(dir, 'short'), 'abc\n');
      const code = (f: () => unknown) => {
        try {
          f();
        } catch (err) {
          return err instanceof PosternError ? err.code : 'other';
        }
        return 'none';
      };
      assert.equal(code(() => adminToken({ ...base, token_file: 'short' }, resolve)), 'POSTERN_ADMIN_TOKEN');
      assert.equal(code(() => adminToken({ ...base, token_file: 'absent' }, resolve)), 'POSTERN_ADMIN_TOKEN');
      assert.equal(code(() => adminToken({ ...base, token_env: 'T' }, resolve, {})), 'POSTERN_ADMIN_TOKEN');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
