// The figure "IMAPS to a TLS backend" compares two proxies that verify the backend's certificate:
// each target's configuration must reach a TLS backend signed by the CA it is given, and refuse one
// that CA did not sign.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dovecotSkipReason, getTestCerts, makeTempDir, skipSuite, startDovecot, type DovecotInstance, type TestCerts } from '../../test/interop/harness/index.js';
import { benchUsers, loadgenUserArgs } from '../backend.js';
import { buildCTools, cbuildSkipReason, type CTools } from '../cbuild.js';
import { runLoadgen } from '../loadgen.js';
import { dovecotProxyTarget } from './dovecot-proxy.js';
import { posternTarget } from './postern.js';
import type { Target } from './types.js';

const skip = skipSuite('bench targets with a TLS backend', cbuildSkipReason(), dovecotSkipReason());
const USERS = 2;
const BIN = fileURLToPath(new URL('../../../bin/postern.js', import.meta.url));

describe('bench targets with a TLS backend', { skip, timeout: 180_000 }, () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let tools: CTools;
  let certs: TestCerts;
  /** Serves the test CA's server certificate. */
  let signed: DovecotInstance;
  /** Serves a self-signed certificate with the same names. */
  let selfSigned: DovecotInstance;

  before(async () => {
    tmp = makeTempDir('bench-targets-test');
    tools = await buildCTools(tmp.path);
    certs = await getTestCerts();
    const users = benchUsers(USERS);
    signed = await startDovecot({ users, trustedNetworks: '127.0.0.0/8' });
    selfSigned = await startDovecot({ users, trustedNetworks: '127.0.0.0/8', cert: certs.selfSigned });
  });

  after(async () => {
    await signed?.stop();
    await selfSigned?.stop();
    tmp?.remove();
  });

  /** `seconds` of IMAPS logins through the target, started against the backend's IMAPS port. */
  async function logins(target: Target, backend: DovecotInstance, seconds: number): Promise<{ ops: number; errors: number }> {
    const running = await target.start({ protocol: 'imap', backendPort: backend.ports.imaps, cert: certs.server, backendCa: certs.ca.certPath });
    try {
      const args = ['--mode', 'login', '--conns', '2', '--warmup', '0.2', '--duration', String(seconds), '--timeout', '10', '--port', String(running.tlsPort), '--tls'];
      const { result } = await runLoadgen(tools.loadgen, [...args, ...loadgenUserArgs(USERS)], { parties: new Map(), timeoutMs: 30_000 });
      return { ops: result.ops, errors: result.errors };
    } finally {
      await running.stop();
    }
  }

  const targets: [string, () => Target][] = [
    ["Dovecot's proxy", () => dovecotProxyTarget(1)],
    ['postern', () => posternTarget(BIN, new Map())],
  ];
  for (const [name, make] of targets) {
    test(`${name} logs in to a backend whose certificate the CA signed`, async () => {
      const r = await logins(make(), signed, 1);
      assert.equal(r.errors, 0);
      assert.ok(r.ops > 0, 'some logins completed');
    });

    test(`${name} refuses a backend whose certificate the CA did not sign`, async () => {
      // Dovecot's proxy retries the backend for about 3 s before it answers NO.
      const r = await logins(make(), selfSigned, 4);
      assert.equal(r.ops, 0, 'no login went through');
      assert.ok(r.errors > 0, 'the logins failed');
    });
  }
});
