import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PosternError, Secret } from '../core/index.js';
import { silentLogger } from '../log/index.js';
import { adminCall, parseAdminUrl } from './client.js';
import { AdminServer } from './http.js';
import type { AdminTarget } from './target.js';

const TOKEN = new Secret('a-token-of-enough-length');
const target: AdminTarget = {
  sessions: async () => [],
  kick: async () => 3,
  flushCache: async () => 0,
  backends: async () => [],
  metrics: async () => '',
  reload: async () => ({ ok: false, error: 'reload not supported' }),
};

async function code(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'none';
  } catch (err) {
    return err instanceof PosternError ? err.code : String(err);
  }
}

describe('admin HTTP server and client', () => {
  it('serves a unix socket of mode 0600; the client reads answers and turns errors into codes', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-admin-http-'));
    const path = join(dir, 'admin.sock');
    const server = new AdminServer({ kind: 'unix', path }, target, { token: TOKEN, metricsTokenRequired: true }, silentLogger());
    try {
      await server.listen();
      assert.equal(statSync(path).mode & 0o777, 0o600);
      const where = parseAdminUrl(`unix:${path}`)!;
      assert.deepEqual(await adminCall({ where, token: TOKEN }, 'POST', '/kick', { user: 'alice' }), { kicked: 3 });
      assert.equal(await code(adminCall({ where, token: new Secret('wrong-wrong-wrong-wrong') }, 'GET', '/sessions')), 'POSTERN_ADMIN_REFUSED');
      assert.equal(await code(adminCall({ where, token: TOKEN }, 'POST', '/reload')), 'POSTERN_ADMIN_API');
      assert.equal(await code(adminCall({ where: { kind: 'unix', path: join(dir, 'absent.sock') }, token: TOKEN }, 'GET', '/sessions')), 'POSTERN_ADMIN_UNREACHABLE');
      // A body over the limit is refused before it is parsed.
      const status = await new Promise<number>((resolve, reject) => {
        const req = request({ socketPath: path, method: 'POST', path: '/kick', headers: { authorization: `Bearer ${TOKEN.reveal()}` } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on('error', reject);
        req.end(Buffer.alloc(20_000, 'x'));
      });
      assert.equal(status, 413);
    } finally {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads --url forms', () => {
    assert.deepEqual(parseAdminUrl('http://127.0.0.1:8080'), { kind: 'tcp', host: '127.0.0.1', port: 8080 });
    assert.deepEqual(parseAdminUrl('http://[::1]:9'), { kind: 'tcp', host: '::1', port: 9 });
    assert.deepEqual(parseAdminUrl('unix:/run/a.sock'), { kind: 'unix', path: '/run/a.sock' });
    for (const bad of ['https://127.0.0.1:1', 'http://127.0.0.1:1/sessions', 'unix:', '127.0.0.1:8080']) assert.equal(parseAdminUrl(bad), undefined, bad);
  });
});
