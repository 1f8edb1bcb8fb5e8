// The imap passdb (Dovecot's `driver = imap`) against a real Dovecot as the remote IMAP server,
// alone and in the "imapc proxy" shape: verify the password at Dovecot A, then proxy the client there.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { createPassdb, makeAuthRequest, passdbSpecSchema, type PassdbResult } from '../../src/auth/index.js';
import { registerPassdbDrivers } from '../../src/drivers.js';
import { dovecotSkipReason, freePort, makeTempDir, skipSuite, startDovecot, type DovecotInstance } from './harness/index.js';
import { startPostern, type TestPostern } from '../support/postern.js';
import { readImap } from '../support/imap-client.js';

const skip = skipSuite('imap passdb', dovecotSkipReason());
registerPassdbDrivers();

describe('imap passdb against Dovecot', { skip, timeout: 120_000 }, () => {
  let dovecot: DovecotInstance;
  let postern: TestPostern;
  let tmp: ReturnType<typeof makeTempDir>;
  let caFile: string;
  let deadPort: number;

  before(async () => {
    tmp = makeTempDir('postern-imap-passdb-');
    dovecot = await startDovecot({ users: [{ name: 'alice', password: 'alice-pw' }, { name: 'bob', password: 'b0b pass "quoted"' }] });
    caFile = join(tmp.path, 'ca.pem');
    writeFileSync(caFile, dovecot.ca);
    deadPort = await freePort();
    const d = dovecot.ports;
    postern = await startPostern({
      log: { level: 'debug' },
      listen: [{ protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'none' }],
      auth: {
        failure_delay: '0',
        passdb: [
          {
            driver: 'imap',
            args: `host=127.0.0.1 port=${d.imap}`,
            // The imapc proxy shape: the password checked at A, then the client proxied to A with it.
            default_fields: `proxy=y host=127.0.0.1 port=${d.imap}`,
            override_fields: 'userdb_imapc_user=%u',
          },
        ],
      },
    });
  });

  after(async () => {
    await postern?.close();
    await dovecot?.stop();
    tmp?.remove();
  });

  const check = (args: string, user: string, password: string): Promise<PassdbResult> =>
    createPassdb(passdbSpecSchema.parse({ driver: 'imap', args }), { baseDir: tmp.path }).lookup(makeAuthRequest({ user, password }));

  test('a password Dovecot accepts is ok; a wrong one is a mismatch, not a temporary failure', async () => {
    const args = `host=127.0.0.1 port=${dovecot.ports.imap}`;
    assert.deepEqual(await check(args, 'alice', 'alice-pw'), { kind: 'ok', fields: {} });
    assert.deepEqual(await check(args, 'bob', 'b0b pass "quoted"'), { kind: 'ok', fields: {} }, 'quoting handled by the IMAP login');
    assert.deepEqual(await check(args, 'alice', 'wrong'), { kind: 'passwordMismatch' });
    assert.deepEqual(await check(args, 'nosuchuser', 'x'), { kind: 'passwordMismatch' });
    await dovecot.waitForLog(/imap-login: Info: Login: user=<alice>/, 5000);
  });

  test('over implicit TLS and STARTTLS, verified with ssl_ca_file', async () => {
    const d = dovecot.ports;
    assert.equal((await check(`host=localhost port=${d.imaps} ssl=imaps ssl_ca_file=ca.pem`, 'alice', 'alice-pw')).kind, 'ok');
    assert.equal((await check(`host=localhost port=${d.imap} ssl=starttls ssl_ca_file=${caFile}`, 'alice', 'alice-pw')).kind, 'ok');
    // Without the CA the certificate is not trusted: the operator's problem, a temporary failure.
    assert.equal((await check(`host=localhost port=${d.imaps} ssl=imaps`, 'alice', 'alice-pw')).kind, 'tempFail');
    assert.equal((await check(`host=localhost port=${d.imaps} ssl=imaps allow_invalid_cert=yes`, 'alice', 'alice-pw')).kind, 'ok');
  });

  test('a server that is down is a temporary failure', async () => {
    const r = await check(`host=127.0.0.1 port=${deadPort}`, 'alice', 'alice-pw');
    assert.equal(r.kind, 'tempFail');
  });

  test('imapc proxy shape: imapflow logs in through postern, checked at Dovecot and proxied there', async () => {
    const mark = await dovecot.logMark();
    const client = new ImapFlow({ host: '127.0.0.1', port: postern.port(0), secure: false, auth: { user: 'alice', pass: 'alice-pw' }, logger: false });
    await client.connect();
    try {
      const status = await client.status('INBOX', { messages: true });
      assert.ok(status, 'STATUS answered');
      assert.equal(typeof status.messages, 'number');
    } finally {
      await client.logout();
    }
    const started = await postern.waitForLog((r) => r.event === 'proxy_started' && r.user === 'alice');
    assert.equal(started.backend, `127.0.0.1:${dovecot.ports.imap}`);
    // Two logins at Dovecot: the passdb's check, then the proxied session.
    await dovecot.waitForLog(/imap-login: Info: Login: user=<alice>/, 5000, { since: mark });
    const log = (await dovecot.logText()).slice(mark);
    assert.ok((log.match(/imap-login: Info: Login: user=<alice>/g) ?? []).length >= 2, log);
  });

  test('imapc proxy shape: a wrong password is refused by postern before any proxying', async () => {
    const proxiedBefore = postern.logs.filter((r) => r.event === 'proxy_started').length;
    const c = await readImap(postern.port(0));
    try {
      assert.match(await c.command('a LOGIN alice wrong-pw'), /^a NO \[AUTHENTICATIONFAILED\] Authentication failed\.\r\n$/m);
    } finally {
      c.close();
    }
    await postern.waitForLog((r) => r.event === 'auth_failed' && r.user === 'alice');
    assert.equal(postern.logs.filter((r) => r.event === 'proxy_started').length, proxiedBefore);
    assert.doesNotMatch(postern.rawLog(), /wrong-pw/);
  });

  test('postern auth test runs the imap passdb and prints its fields', () => {
    const config = join(tmp.path, 'postern.yaml');
    writeFileSync(
      config,
      `listen:\n  - { protocol: imap, port: 0 }\nauth:\n  passdb:\n    - { driver: imap, args: "host=127.0.0.1 port=${dovecot.ports.imap}", override_fields: "userdb_imapc_user=%u" }\n`,
    );
    const bin = join(process.cwd(), 'bin', 'postern.js');
    const run = (...args: string[]) => spawnSync(process.execPath, [bin, 'auth', ...args], { encoding: 'utf8', input: '', timeout: 30_000 });
    const ok = run('test', '-c', config, 'alice', 'alice-pw');
    assert.equal(ok.status, 0, ok.stderr);
    assert.equal(ok.stdout, 'passdb: alice auth succeeded\nextra fields:\n  user=alice\n  userdb_imapc_user=alice\n');
    assert.equal(run('test', '-c', config, 'alice', 'nope').status, 1);
    const lookup = run('lookup', '-c', config, 'alice');
    assert.equal(lookup.status, 2, 'the imap passdb cannot look users up without a password');
  });
});
