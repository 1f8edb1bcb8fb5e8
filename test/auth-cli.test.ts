// `postern auth test`, `postern auth lookup` and `postern cache flush`, as an operator runs them.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { makeTempDir } from './interop/harness/index.js';

const BIN = join(process.cwd(), 'bin', 'postern.js');

function postern(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', input: input ?? '', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('postern auth', () => {
  const tmp = makeTempDir('postern-auth-cli-');
  const write = (name: string, text: string) => {
    const p = join(tmp.path, name);
    writeFileSync(p, text);
    return p;
  };
  test.after(() => tmp.remove());

  write(
    'users',
    [
      'alice:{PLAIN}alice-pw::::::proxy=y host=10.0.0.1 pass=backend-secret',
      'bob:{SHA512-CRYPT}$6$bj1BJTwxWYpC95Vy$8/ksAbNWanc9.YnLh/CWnH38B857xpAYFzLwUpIcpZv3ypQow2YxIXH5/fM3HW15zRQaxUuJxWY/cwUQGlGYh.',
      'carol:::::::nopassword=y proxy=y host=10.0.0.3',
      'dora:{PLAIN}dora-pw::::::nologin=y reason=Moved.',
    ].join('\n') + '\n',
  );
  // passwd-file first; users it does not know fall through to the static passdb.
  const config = write(
    'postern.yaml',
    [
      'listen:',
      '  - { protocol: imap, port: 0 }',
      'auth:',
      '  passdb:',
      '    - { driver: passwd-file, args: users }',
      '    - { driver: static, args: "password=static-pw proxy=y host=%s.backend.test rip=%r", override_fields: "userdb_imapc_user=%u" }',
      '',
    ].join('\n'),
  );

  test('auth test: a good password prints the result and fields as doveadm does, with secrets masked', () => {
    const r = postern(['auth', 'test', '-c', config, 'alice', 'alice-pw']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'passdb: alice auth succeeded\nextra fields:\n  user=alice\n  proxy=y\n  host=10.0.0.1\n  pass=***\n');
    assert.doesNotMatch(r.stdout + r.stderr, /backend-secret|alice-pw/);
  });

  test('auth test: a wrong password exits 1; nologin is still a successful check', () => {
    const bad = postern(['auth', 'test', '-c', config, 'alice', 'wrong']);
    assert.equal(bad.code, 1);
    assert.equal(bad.stdout, 'passdb: alice auth failed\nextra fields:\n  user=alice\n');
    const disabled = postern(['auth', 'test', '-c', config, 'dora', 'dora-pw']);
    assert.equal(disabled.code, 0, 'nologin is a successful check; the front refuses the login');
    assert.match(disabled.stdout, /^  nologin=y$/m);
  });

  test('auth test: the password is read from standard input when not given', () => {
    const r = postern(['auth', 'test', '-c', config, 'bob'], 'bob-pw\n');
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^passdb: bob auth succeeded$/m);
    assert.equal(postern(['auth', 'test', '-c', config, 'bob'], 'nope\n').code, 1);
  });

  test('auth test: --service and --rip fill %s and %r (static passdb, override_fields)', () => {
    const r = postern(['auth', 'test', '-c', config, '--service', 'pop3', '--rip', '192.0.2.7', 'erin', 'static-pw']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'passdb: erin auth succeeded\nextra fields:\n  user=erin\n  proxy=y\n  host=pop3.backend.test\n  rip=192.0.2.7\n  userdb_imapc_user=erin\n');
    assert.match(postern(['auth', 'test', '-c', config, 'erin', 'static-pw']).stdout, /host=doveadm\.backend\.test/, 'doveadm\'s default service');
    assert.notEqual(postern(['auth', 'test', '-c', config, '--rip', 'not-an-ip', 'erin', 'x']).code, 0);
  });

  test('auth test: a success that checked no password says so on stderr', () => {
    const r = postern(['auth', 'test', '-c', config, 'carol', 'anything']);
    assert.equal(r.code, 0);
    assert.match(r.stderr, /no passdb checked this password/);
  });

  test('auth test: a temporary failure exits 2; so does an unusable passdb or configuration', () => {
    const missing = write('missing.yaml', 'listen:\n  - { protocol: imap, port: 0 }\nauth:\n  passdb:\n    - { driver: passwd-file, args: no-such-file }\n');
    const r = postern(['auth', 'test', '-c', missing, 'alice', 'x']);
    assert.equal(r.code, 2);
    assert.equal(r.stdout, 'passdb: alice auth failed\nextra fields:\n  user=alice\n  code=temp_fail\n');
    assert.match(r.stderr, /temporary failure: cannot read .*no-such-file: ENOENT/);
    const badScheme = write('scheme.yaml', 'listen:\n  - { protocol: imap, port: 0 }\nauth:\n  passdb:\n    - { driver: passwd-file, args: "scheme=NOPE users" }\n');
    const c = postern(['auth', 'test', '-c', badScheme, 'alice', 'x']);
    assert.equal(c.code, 2);
    assert.match(c.stderr, /unknown scheme NOPE \[AUTH_CONFIG\]/);
    assert.equal(postern(['auth', 'test', '-c', join(tmp.path, 'absent.yaml'), 'alice', 'x']).code, 2);
  });

  test('auth lookup: the fields and the scheme of the password, never the hash', () => {
    const r = postern(['auth', 'lookup', '-c', config, 'alice', 'bob']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      'passdb: alice\n  password  : {PLAIN}***\n  proxy     : y\n  host      : 10.0.0.1\n  pass      : ***\n\npassdb: bob\n  password  : {SHA512-CRYPT}***\n',
    );
    assert.equal(postern(['auth', 'lookup', '-c', config, '-f', 'host', 'alice']).stdout, '10.0.0.1\n');
  });

  test('auth lookup: an unknown user exits 1, a temporary failure 2', () => {
    const only = write('only.yaml', 'listen:\n  - { protocol: imap, port: 0 }\nauth:\n  passdb:\n    - { driver: passwd-file, args: users }\n');
    const r = postern(['auth', 'lookup', '-c', only, 'nobody']);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "passdb lookup: user nobody doesn't exist\n");
    const missing = write('missing2.yaml', 'listen:\n  - { protocol: imap, port: 0 }\nauth:\n  passdb:\n    - { driver: passwd-file, args: no-such-file }\n');
    const t = postern(['auth', 'lookup', '-c', missing, 'alice']);
    assert.equal(t.code, 2);
    assert.match(t.stderr, /passdb lookup failed for alice: .*ENOENT/);
  });
});

describe('postern cache flush', () => {
  const tmp = makeTempDir('postern-cache-cli-');
  test.after(() => tmp.remove());

  test('signals a running server, which flushes its auth cache and logs the count', async () => {
    writeFileSync(join(tmp.path, 'users'), 'alice:{PLAIN}alice-pw\n');
    const config = join(tmp.path, 'postern.yaml');
    writeFileSync(config, 'listen:\n  - { protocol: imap, address: 127.0.0.1, port: 0, tls: none }\nauth:\n  cache_size: 1M\n  failure_delay: 0\n  passdb:\n    - { driver: passwd-file, args: users }\n');
    const pidFile = join(tmp.path, 'postern.pid');
    const server = spawn(process.execPath, [BIN, 'serve', '-c', config, '--pid-file', pidFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    server.stdout.on('data', (d: Buffer) => void (log += d.toString('utf8')));
    const waitLog = async (re: RegExp) => {
      for (let i = 0; i < 200 && !re.test(log); i++) await new Promise((r) => setTimeout(r, 50));
      assert.match(log, re);
      return re.exec(log)!;
    };
    try {
      const port = Number((await waitLog(/"event":"listening".*?"port":(\d+)/))[1]);
      await waitLog(/"event":"started"/);
      assert.ok(existsSync(pidFile));
      // One login fills the cache.
      await new Promise<void>((resolve, reject) => {
        const s = connect(port, '127.0.0.1');
        let got = '';
        s.once('data', () => s.write('a LOGIN alice alice-pw\r\n'));
        s.on('data', (d) => {
          got += d.toString();
          if (/\r\na (OK|NO|BAD)/.test(got)) {
            s.end();
            resolve();
          }
        });
        s.on('error', reject);
      });
      const r = postern(['cache', 'flush', '--pid-file', pidFile]);
      assert.equal(r.code, 0, r.stderr);
      await waitLog(/SIGHUP received, 1 cache entries flushed/);
      assert.equal(postern(['cache', 'flush', '--pid', '999999999']).code, 1);
      assert.equal(postern(['cache', 'flush']).code, 1, 'needs --pid or --pid-file');
    } finally {
      server.kill('SIGTERM');
      await new Promise((r) => server.once('exit', r));
    }
    assert.ok(!existsSync(pidFile), 'the pid file is removed on exit');
  });
});
