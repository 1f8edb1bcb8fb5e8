import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateConfig } from './loader.js';

const base = { auth: { passdb: [{ driver: 'passwd-file', args: 'users' }] } };

test('a haproxy listener needs haproxy_trusted_networks, reported at its key path', () => {
  const listen = [{ protocol: 'imap', port: 143 }, { protocol: 'imap', port: 10143, haproxy: true }];
  assert.throws(() => validateConfig({ ...base, listen }, 'postern.yaml'), (err: Error) => /listen\.1\.haproxy|listen\[1\]\.haproxy/.test(err.message) && /haproxy_trusted_networks/.test(err.message));
  const ok = validateConfig({ ...base, listen, haproxy_trusted_networks: ['10.0.0.0/8', '::1'] }, 'postern.yaml');
  assert.deepEqual(ok.listen.map((l) => l.haproxy ?? false), [false, true]);
  assert.throws(() => validateConfig({ ...base, listen, haproxy_trusted_networks: ['not-a-network'] }, 'postern.yaml'), /haproxy_trusted_networks/);
});
