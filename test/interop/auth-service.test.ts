// The auth service (Dovecot's auth-client protocol) against real MTAs: Debian's Postfix with
// `smtpd_sasl_type = dovecot` over TCP, and Debian's Exim (unpacked by setup-exim.sh, since the
// packages conflict) with a `dovecot` authenticator on postern's unix socket. swaks logs in with
// AUTH PLAIN and AUTH LOGIN: a right password is 235, a wrong one 535, and a passdb that cannot
// answer a temporary failure (454 from Postfix, 435 from Exim: Exim has no other code for it).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary, freePort, guardProcessGroup, makeTempDir, pollUntil, runCommand, skipSuite, spawnProcess, waitForListening, type ManagedProcess, type TempDir } from './harness/index.js';
import { isRoot, systemUser } from './harness/system-users.js';
import { startPostern, type TestPostern } from '../support/postern.js';

const EXIM = process.env['POSTERN_EXIM'] ?? '/opt/postern-exim/usr/sbin/exim4';
const swaksMissing = findBinary('swaks') ? undefined : 'swaks not installed';
const rootMissing = isRoot() ? undefined : 'needs root (the MTAs drop to their own users)';
const skipPostfix = skipSuite('auth service: Postfix', findBinary('postfix') ? undefined : 'postfix not installed', swaksMissing, rootMissing, systemUser('postfix') ? undefined : 'no postfix user');
const skipExim = skipSuite(
  'auth service: Exim',
  existsSync(EXIM) ? undefined : `${EXIM} missing (run test/interop/setup-exim.sh)`,
  swaksMissing,
  rootMissing,
  systemUser('Debian-exim') ? undefined : 'no Debian-exim user (setup-exim.sh creates it)',
);

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** One file per user (`users-%u`): `dbdown`'s is a folder, so reading it fails: a passdb that cannot answer. */
function writeUsers(dir: string): string {
  const users = join(dir, 'users');
  mkdirSync(users);
  writeFileSync(join(users, 'users-alice'), 'alice:{PLAIN}alice-pw\n');
  // The backend would check carol's password at IMAP login; nobody does for SMTP, so: refused.
  writeFileSync(join(users, 'users-carol'), 'carol:::::::nopassword=y proxy=y host=127.0.0.1\n');
  mkdirSync(join(users, 'users-dbdown'));
  return join(users, 'users-%u');
}

async function startAuthService(tmp: TempDir): Promise<TestPostern> {
  return startPostern({
    listen: [
      { protocol: 'auth', address: '127.0.0.1', port: 0 },
      { protocol: 'auth', path: join(tmp.path, 'auth-client'), mode: '0666' },
    ],
    // Every swaks login comes from 127.0.0.1: with the penalty on, the failures would hold later
    // cases up to 15 s, past Postfix's 10 s auth timeout (src/authserver tests cover the penalty).
    auth: { failure_delay: '200ms', penalty: false, passdb: [{ driver: 'passwd-file', args: writeUsers(tmp.path) }] },
  });
}

/** swaks' login at host:port; the server's final answer to AUTH (after any 334 challenges). */
async function swaks(port: number, mech: 'PLAIN' | 'LOGIN', user: string, password: string): Promise<{ code: string; output: string }> {
  const r = await runCommand('swaks', ['--server', `127.0.0.1:${port}`, '--ehlo', 'client.test', '--auth', mech, '--auth-user', user, '--auth-password', password, '--quit-after', 'AUTH', '--timeout', '20'], { timeoutMs: 40_000 });
  const output = r.stdout + r.stderr;
  const afterAuth = output.slice(output.indexOf(`-> AUTH ${mech}`));
  const codes = [...afterAuth.matchAll(/^<(?:-|\*\*) +(\d{3})[ -]/gm)].map((m) => m[1]!).filter((c) => c !== '334');
  return { code: codes[0] ?? 'none', output };
}

/** The shared table: what each login must get, the temporary-failure code being the MTA's own. */
function loginTests(port: () => number, tempCode: string, diagnostics: () => string): void {
  const cases: ReadonlyArray<[mech: 'PLAIN' | 'LOGIN', user: string, password: string, code: string, what: string]> = [
    ['PLAIN', 'alice', 'alice-pw', '235', 'right password'],
    ['LOGIN', 'alice', 'alice-pw', '235', 'right password'],
    ['PLAIN', 'alice', 'wrong', '535', 'wrong password'],
    ['LOGIN', 'alice', 'wrong', '535', 'wrong password'],
    ['PLAIN', 'nobody', 'whatever', '535', 'unknown user (same answer as a wrong password)'],
    ['PLAIN', 'carol', 'anything', '535', 'nopassword user: the auth service never accepts an unchecked password'],
    ['PLAIN', 'dbdown', 'x', tempCode, 'passdb unreachable: a temporary failure'],
    ['LOGIN', 'dbdown', 'x', tempCode, 'passdb unreachable: a temporary failure'],
    ['PLAIN', 'alice', 'alice-pw', '235', 'right password again, after the temporary failure closed the connection'],
  ];
  for (const [mech, user, password, code, what] of cases) {
    test(`AUTH ${mech} ${user}: ${code} (${what})`, async () => {
      const r = await swaks(port(), mech, user, password);
      assert.equal(r.code, code, `${r.output}\n--- MTA log ---\n${diagnostics()}`);
    });
  }
}

describe('auth service with a real Postfix', { skip: skipPostfix, timeout: 180_000 }, () => {
  let tmp: TempDir;
  let postern: TestPostern;
  let masterPid: number | undefined;
  let unguard: (() => void) | undefined;
  let smtpPort = 0;
  const maillog = () => {
    const f = join(tmp.path, 'maillog');
    return existsSync(f) ? readFileSync(f, 'utf8') : '';
  };

  before(async () => {
    tmp = makeTempDir('auth-postfix');
    chmodSync(tmp.path, 0o755); // postfix's daemons run as postfix and must reach their folders
    postern = await startAuthService(tmp);
    smtpPort = await freePort();
    const conf = join(tmp.path, 'conf');
    const data = join(tmp.path, 'data');
    mkdirSync(conf);
    mkdirSync(data);
    mkdirSync(join(tmp.path, 'queue'));
    const owner = systemUser('postfix')!;
    chownSync(data, owner.uid, owner.gid);
    writeFileSync(
      join(conf, 'main.cf'),
      [
        'compatibility_level = 3.6',
        `queue_directory = ${join(tmp.path, 'queue')}`,
        `data_directory = ${data}`,
        // Not /dev/stdout: Node's stdio pipes are sockets, which postlogd cannot open as a file.
        `maillog_file = ${join(tmp.path, 'maillog')}`,
        `maillog_file_prefixes = ${tmp.path}`,
        'myhostname = postern-test.example',
        'mydestination =',
        'local_recipient_maps =',
        'inet_interfaces = 127.0.0.1',
        'inet_protocols = ipv4',
        'smtpd_tls_security_level = none',
        'smtpd_sasl_auth_enable = yes',
        'smtpd_sasl_type = dovecot',
        `smtpd_sasl_path = inet:127.0.0.1:${postern.port(0)}`,
        'smtpd_sasl_security_options = noanonymous',
        'smtpd_relay_restrictions = permit_sasl_authenticated, reject',
        '',
      ].join('\n'),
    );
    // Only what an SMTP AUTH session needs; nothing chrooted.
    writeFileSync(
      join(conf, 'master.cf'),
      [
        `127.0.0.1:${smtpPort} inet n - n - - smtpd`,
        'anvil unix - - n - 1 anvil',
        'proxymap unix - - n - - proxymap',
        'rewrite unix - - n - - trivial-rewrite',
        'postlog unix-dgram n - n - 1 postlogd',
        '',
      ].join('\n'),
    );
    const check = await runCommand('postfix', ['-c', conf, 'check']);
    assert.equal(check.code, 0, `postfix check: ${check.stdout}${check.stderr}\n${maillog()}`);
    // The master always makes itself a session leader (start-fg too), so it is started as the
    // daemon it is and its process group is guarded: a crashed test still takes it down.
    const start = await runCommand('postfix', ['-c', conf, 'start']);
    assert.equal(start.code, 0, `postfix start: ${start.stdout}${start.stderr}\n${maillog()}`);
    const pidFile = join(tmp.path, 'queue', 'pid', 'master.pid');
    masterPid = await pollUntil(() => (existsSync(pidFile) ? Number(readFileSync(pidFile, 'utf8').trim()) || undefined : undefined), { timeoutMs: 10_000, what: 'master.pid' });
    unguard = guardProcessGroup(masterPid);
    await waitForListening([smtpPort], 20_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${maillog()}`);
    });
  });

  after(async () => {
    if (masterPid !== undefined) {
      await runCommand('postfix', ['-c', join(tmp.path, 'conf'), 'stop']);
      const pid = masterPid;
      await pollUntil(() => (alive(pid) ? undefined : true), { timeoutMs: 10_000, what: 'the postfix master to exit' }).catch(() => undefined);
      try {
        process.kill(-pid, 'SIGKILL'); // stragglers of its group, if any
      } catch {
        // all gone
      }
      unguard?.();
    }
    await postern?.close();
    tmp?.remove();
  });

  loginTests(() => smtpPort, '454', maillog);

  test('postern logged the refusals with their reasons, never a password', async () => {
    await postern.waitForLog((r) => r.event === 'auth_failed' && r['reason'] === 'passwordNotVerified' && r['user'] === 'carol');
    await postern.waitForLog((r) => r.event === 'auth_tempfail' && r['user'] === 'dbdown');
    await postern.waitForLog((r) => r.event === 'auth_ok' && r['service'] === 'smtp' && r['user'] === 'alice');
    assert.ok(!postern.rawLog().includes('alice-pw'));
  });
});

describe('auth service with a real Exim', { skip: skipExim, timeout: 180_000 }, () => {
  let tmp: TempDir;
  let postern: TestPostern;
  let exim: ManagedProcess | undefined;
  let smtpPort = 0;
  const eximLogs = () => {
    const dir = join(tmp.path, 'log');
    return existsSync(dir) ? readdirSync(dir).map((f) => `${f}:\n${readFileSync(join(dir, f), 'utf8')}`).join('\n') : '';
  };

  before(async () => {
    tmp = makeTempDir('auth-exim');
    chmodSync(tmp.path, 0o755); // Exim authenticates as Debian-exim, which must reach the socket
    postern = await startAuthService(tmp);
    smtpPort = await freePort();
    const owner = systemUser('Debian-exim')!;
    for (const d of ['spool', 'log']) {
      mkdirSync(join(tmp.path, d));
      chownSync(join(tmp.path, d), owner.uid, owner.gid);
    }
    const socket = join(tmp.path, 'auth-client');
    const authenticator = (name: string) => [`dovecot_${name.toLowerCase()}:`, '  driver = dovecot', `  public_name = ${name}`, `  server_socket = ${socket}`, '  server_set_id = $auth1'];
    const conf = join(tmp.path, 'exim.conf');
    writeFileSync(
      conf,
      [
        'primary_hostname = postern-test.example',
        `spool_directory = ${join(tmp.path, 'spool')}`,
        `log_file_path = ${join(tmp.path, 'log')}/%slog`,
        `pid_file_path = ${join(tmp.path, 'exim.pid')}`,
        'local_interfaces = <; 127.0.0.1',
        'exim_user = Debian-exim',
        'exim_group = Debian-exim',
        'never_users = root',
        'keep_environment =',
        'host_lookup =',
        'tls_advertise_hosts =',
        'auth_advertise_hosts = *',
        'acl_smtp_rcpt = acl_check_rcpt',
        'begin acl',
        'acl_check_rcpt:',
        '  accept authenticated = *',
        '  deny',
        'begin authenticators',
        ...authenticator('PLAIN'),
        ...authenticator('LOGIN'),
        '',
      ].join('\n'),
    );
    exim = spawnProcess(EXIM, ['-C', conf, '-bdf', '-oX', String(smtpPort)], { stopTimeoutMs: 10_000 });
    await waitForListening([smtpPort], 20_000).catch((err: Error) => {
      throw new Error(`${err.message}\n${exim?.output()}\n${eximLogs()}`);
    });
  });

  after(async () => {
    await exim?.stop();
    await postern?.close();
    tmp?.remove();
  });

  loginTests(() => smtpPort, '435', () => `${exim?.output() ?? ''}\n${eximLogs()}`);

  test('Exim came in over the unix socket, with its one-write VERSION/CPID/AUTH', async () => {
    const hit = await postern.waitForLog((r) => r.event === 'auth_ok' && r['user'] === 'alice' && typeof r['listener'] === 'string' && String(r['listener']).includes('auth-client'));
    assert.equal(hit['mech'] === 'PLAIN' || hit['mech'] === 'LOGIN', true);
  });
});
