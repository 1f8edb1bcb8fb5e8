import { test } from 'node:test';
import assert from 'node:assert/strict';
import { maskSecrets } from './mask.js';

test('secrets are masked for printing: keys, key=value args, URL credentials', () => {
  const cfg = {
    passdb: [
      { driver: 'static', args: 'proxy=y pass=backend-secret host=h' },
      { driver: 'oauth2', oauth2: { introspection_url: 'https://client:s3cret@idp.example/introspect', client_secret: 'abc', client_id: 'client' } },
    ],
  };
  assert.deepEqual(maskSecrets(cfg), {
    passdb: [
      { driver: 'static', args: 'proxy=y pass=*** host=h' },
      { driver: 'oauth2', oauth2: { introspection_url: 'https://client:***@idp.example/introspect', client_secret: '***', client_id: 'client' } },
    ],
  });
  assert.equal(maskSecrets('https://idp.example/x?a=b'), 'https://idp.example/x?a=b');
});
