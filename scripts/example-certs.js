#!/usr/bin/env node
// Makes the self-signed certificate the examples use (examples/certs/), once.
// For production, point tls.cert/tls.key at your real certificate instead.
import { existsSync, mkdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'examples', 'certs');
const cert = join(dir, 'server.pem');
const key = join(dir, 'server.key');
if (existsSync(cert) && existsSync(key)) process.exit(0);
mkdirSync(dir, { recursive: true });
const res = spawnSync('openssl', [
  'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '825',
  '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1',
  '-keyout', key, '-out', cert,
], { stdio: ['ignore', 'ignore', 'inherit'] });
if (res.error || res.status !== 0) {
  console.error(`could not make the example certificate with openssl (${res.error?.message ?? `exit ${res.status}`}); install openssl or set tls.cert/tls.key to your own files`);
  process.exit(1);
}
console.error(`made a self-signed certificate for localhost in ${dir}`);
