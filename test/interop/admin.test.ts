// The admin API, metrics and the who/kick verbs against sessions proxied to a real Dovecot,
// with real clients (imapflow, curl, the postern CLI as a child process).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { ImapFlow } from 'imapflow';
import { dovecotSkipReason, freePort, getTestCerts, makeTempDir, pollUntil, requireBinary, runCommand, skipSuite, startDovecot, type DovecotInstance, type TestCerts } from './harness/index.js';
import { startPostern, type TestPostern } from '../support/postern.js';
import { readImap } from '../support/imap-client.js';
import { readPop3 } from '../support/pop3-client.js';
import type { PassdbSpecInput } from '../../src/auth/index.js';
import type { SessionInfo } from '../../src/login/index.js';

const skip = skipSuite('admin API', dovecotSkipReason(), requireBinary('curl'));
const TOKEN = 'admin-token-for-the-tests-0123456789';
const BIN = join(process.cwd(), 'bin', 'postern.js');

interface Curl {
  status: number;
  body: string;
}

/** curl, as an operator or Prometheus would call the API (asynchronously: the server runs in this process). */
async function curl(port: number, path: string, opts: { token?: string; method?: string; body?: string } = {}): Promise<Curl> {
  const args = ['-s', '-o', '-', '-w', '\n%{http_code}', '-X', opts.method ?? 'GET', `http://127.0.0.1:${port}${path}`];
  if (opts.token !== undefined) args.push('-H', `Authorization: Bearer ${opts.token}`);
  if (opts.body !== undefined) args.push('-H', 'Content-Type: application/json', '--data', opts.body);
  const r = await runCommand('curl', args, { timeoutMs: 15_000 });
  assert.equal(r.code, 0, r.stderr);
  const cut = r.stdout.lastIndexOf('\n');
  return { body: r.stdout.slice(0, cut), status: Number(r.stdout.slice(cut + 1)) };
}

function cli(args: string[]) {
  return runCommand(process.execPath, [BIN, ...args], { timeoutMs: 20_000 });
}

/** One sample of the Prometheus text, by the name and labels as written. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('admin API and metrics with Dovecot behind', { skip, timeout: 180_000 }, () => {
  let dovecot: DovecotInstance;
  let postern: TestPostern;
  let certs: TestCerts;
  let tmp: ReturnType<typeof makeTempDir>;
  let deadPort: number;
  let passwd: string;
  const imapPort = () => postern.port(0);
  const pop3Port = () => postern.port(1);
  const adminPort = () => postern.server.admin!.port;
  const api = (path: string, opts: { method?: string; body?: string } = {}) => curl(adminPort(), path, { ...opts, token: TOKEN });
  const sessions = async (query = ''): Promise<SessionInfo[]> => (JSON.parse((await api(`/sessions${query}`)).body) as { sessions: SessionInfo[] }).sessions;

  /** A postern in front of the Dovecot, with the admin API on a free loopback port. */
  const start = (passdbsFirst: PassdbSpecInput[] = []) =>
    startPostern(
      {
        tls: { cert: certs.server.certPath, key: certs.server.keyPath },
        listen: [
          { protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'none' },
          { protocol: 'pop3', address: '127.0.0.1', port: 0, tls: 'none' },
          { protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'implicit', name: 'imaps' },
        ],
        auth: { failure_delay: '0', passdb: [...passdbsFirst, { driver: 'passwd-file', args: passwd }] },
        proxy: { max_reconnects: 0 },
        admin: { listen: '127.0.0.1:0', token: TOKEN },
      },
      tmp.path,
    );

  before(async () => {
    certs = await getTestCerts();
    tmp = makeTempDir('postern-admin-');
    dovecot = await startDovecot({
      users: [
        { name: 'alice', password: 'alice-pw' },
        { name: 'bob', password: 'bob-pw' },
        { name: 'carol', password: 'carol-pw' },
      ],
    });
    deadPort = await freePort();
    const d = dovecot.ports;
    passwd = join(tmp.path, 'users');
    writeFileSync(
      passwd,
      [
        `alice:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${d.imap}`,
        `carol:{PLAIN}carol-pw::::::proxy=y host=127.0.0.1 port=${d.imap}`,
        `bob:{PLAIN}bob-pw::::::proxy=y host=127.0.0.1 port=${d.pop3}`,
        `nobody:{PLAIN}pw::::::proxy=y host=127.0.0.1 port=${deadPort}`,
        '',
      ].join('\n'),
    );
    postern = await start();
  });

  after(async () => {
    await postern?.close();
    await dovecot?.stop();
    tmp?.remove();
  });

  async function flow(user: string, pass: string) {
    const client = new ImapFlow({ host: '127.0.0.1', port: imapPort(), secure: false, auth: { user, pass }, logger: false, connectionTimeout: 10_000, greetingTimeout: 10_000 });
    await client.connect();
    return client;
  }

  async function pop3(user: string, pass: string) {
    const c = await readPop3(pop3Port());
    assert.match(await c.pop(`USER ${user}`), /^\+OK/);
    assert.match(await c.pop(`PASS ${pass}`), /^\+OK/);
    return c;
  }

  test('a wrong or missing token is 401, as is a token given another way; nothing of it reaches the log', async () => {
    assert.equal((await curl(adminPort(), '/sessions')).status, 401);
    assert.equal((await curl(adminPort(), '/sessions', { token: 'wrong-token-wrong-token' })).status, 401);
    assert.equal((await curl(adminPort(), '/metrics')).status, 401, 'metrics need the token by default');
    assert.equal((await curl(adminPort(), `/sessions?token=${TOKEN}`)).status, 401);
    assert.equal((await api('/sessions')).status, 200);
    assert.doesNotMatch(postern.rawLog(), new RegExp(TOKEN));
    assert.ok(postern.logs.some((r) => r.event === 'admin_request' && r['status'] === 401 && r['path'] === '/sessions'));
  });

  test('who lists a proxied IMAP and POP3 session with user, client address, backend and growing byte counts', async () => {
    const imap = await flow('alice', 'alice-pw');
    const pop = await pop3('bob', 'bob-pw');
    try {
      const d = dovecot.ports;
      const all = await sessions();
      const a = all.find((s) => s.user === 'alice');
      const b = all.find((s) => s.user === 'bob');
      assert.ok(a && b, JSON.stringify(all));
      assert.deepEqual([a.protocol, a.state, a.rip, a.backend], ['imap', 'proxying', '127.0.0.1', `127.0.0.1:${d.imap}`]);
      assert.deepEqual([b.protocol, b.state, b.rip, b.backend], ['pop3', 'proxying', '127.0.0.1', `127.0.0.1:${d.pop3}`]);
      await imap.noop();
      await imap.status('INBOX', { messages: true });
      assert.match(await pop.pop('STAT'), /^\+OK 0 0/);
      const a2 = await sessions('?user=alice');
      const b2 = await sessions('?protocol=pop3');
      assert.equal(a2.length, 1);
      assert.equal(b2.length, 1);
      assert.ok(a2[0]!.bytesIn > a.bytesIn && a2[0]!.bytesOut > a.bytesOut, `alice: ${JSON.stringify([a, a2[0]])}`);
      assert.equal(b2[0]!.bytesIn, b.bytesIn + 'STAT\r\n'.length);
      assert.ok(b2[0]!.bytesOut > b.bytesOut);
      assert.deepEqual((await sessions(`?backend=127.0.0.1:${d.pop3}`)).map((s) => s.user), ['bob']);
      assert.deepEqual(await sessions('?rip=10.0.0.0/8'), []);

      // The verb, as a child process, from a configuration naming the API.
      const cfg = join(tmp.path, 'cli.yaml');
      writeFileSync(cfg, `listen:\n  - { protocol: imap, port: 0 }\nauth:\n  passdb:\n    - { driver: passwd-file, args: users }\nadmin:\n  listen: 127.0.0.1:${adminPort()}\n  token: ${TOKEN}\n`);
      const who = await cli(['who', '-c', cfg]);
      assert.equal(who.code, 0, who.stderr);
      const lines = who.stdout.trim().split('\n');
      assert.match(lines[0]!, /^USER +PROTO +STATE +RIP +BACKEND +SINCE +IN +OUT$/);
      assert.match(who.stdout, new RegExp(`^alice +imap +proxying +127\\.0\\.0\\.1 +127\\.0\\.0\\.1:${d.imap} +\\d{4}-\\d\\d-\\d\\dT[\\d:]+Z +\\d+ +\\d+$`, 'm'));
      assert.match(who.stdout, new RegExp(`^bob +pop3 +proxying +127\\.0\\.0\\.1 +127\\.0\\.0\\.1:${d.pop3} `, 'm'));
      const json = await cli(['who', '-c', cfg, '--user', 'bob', '--json']);
      assert.deepEqual((JSON.parse(json.stdout) as SessionInfo[]).map((s) => s.user), ['bob']);
    } finally {
      await imap.logout().catch(() => {});
      pop.close();
    }
  });

  test('kick by user ends only that user\'s sessions, with * BYE; kick by backend ends the POP3 one with -ERR', async () => {
    const alice1 = await readImap(imapPort());
    const alice2 = await readImap(imapPort());
    const carol = await readImap(imapPort());
    const bob = await pop3('bob', 'bob-pw');
    try {
      for (const [c, u] of [[alice1, 'alice'], [alice2, 'alice'], [carol, 'carol']] as const) assert.match(await c.command(`a LOGIN ${u} ${u}-pw`), /^a OK/m);
      await pollUntil(async () => (await sessions('?user=alice')).length === 2 || undefined, { timeoutMs: 5000, intervalMs: 20, what: 'two alice sessions' });

      const tokenFile = join(tmp.path, 'token');
      writeFileSync(tokenFile, `${TOKEN}\n`);
      const kick = await cli(['kick', '--url', `http://127.0.0.1:${adminPort()}`, '--token-file', tokenFile, '--user', 'alice']);
      assert.equal(kick.code, 0, kick.stderr);
      assert.equal(kick.stdout, '2 sessions kicked\n');
      for (const c of [alice1, alice2]) assert.match(await c.closed(), /^\* BYE Disconnected by the administrator\.\r\n$/m);
      assert.match(await carol.command('b NOOP'), /^b OK/m, 'carol is still connected');
      assert.match(await bob.pop('NOOP'), /^\+OK/);

      const byBackend = await api('/kick', { method: 'POST', body: JSON.stringify({ backend: `127.0.0.1:${dovecot.ports.pop3}` }) });
      assert.deepEqual([byBackend.status, JSON.parse(byBackend.body)], [200, { kicked: 1 }]);
      assert.match(await bob.closed(), /^-ERR Disconnected by the administrator\.\r\n$/m);
      assert.match(await carol.command('c NOOP'), /^c OK/m);
      const empty = await api('/kick', { method: 'POST', body: '{}' });
      assert.equal(empty.status, 400);
      assert.match(await carol.command('d NOOP'), /^d OK/m, 'an empty filter kicks no one');
    } finally {
      for (const c of [alice1, alice2, carol, bob]) c.close();
    }
  });

  test('the CLI says in one line when the token is wrong or nothing listens, and exits 1', async () => {
    const wrong = join(tmp.path, 'wrong-token');
    writeFileSync(wrong, 'not-the-token-not-the-token\n');
    const refused = await cli(['who', '--url', `http://127.0.0.1:${adminPort()}`, '--token-file', wrong]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^postern: the admin API at http:\/\/127\.0\.0\.1:\d+ refused the token \[POSTERN_ADMIN_REFUSED\]\n$/);
    const closed = await freePort();
    const gone = await cli(['kick', '--url', `http://127.0.0.1:${closed}`, '--token-file', wrong, '--user', 'x']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /^postern: cannot reach the admin API at http:\/\/127\.0\.0\.1:\d+: ECONNREFUSED \[POSTERN_ADMIN_UNREACHABLE\]\n$/);
    assert.equal((await cli(['kick', '--url', `http://127.0.0.1:${closed}`, '--token-file', wrong])).code, 1, 'kick without a filter');
    // cache flush and reload through the API; this server has no auth cache, and no file to read again.
    const cfg = join(tmp.path, 'cli2.yaml');
    writeFileSync(cfg, `listen:\n  - { protocol: imap, port: 0 }\nauth:\n  passdb:\n    - { driver: passwd-file, args: users }\nadmin:\n  listen: 127.0.0.1:${adminPort()}\n  token_file: token2\n`);
    writeFileSync(join(tmp.path, 'token2'), `${TOKEN}\n`);
    const flush = await cli(['cache', 'flush', '-c', cfg]);
    assert.deepEqual([flush.code, flush.stdout], [0, '0 cache entries flushed\n'], flush.stderr);
    const reload = await cli(['reload', '-c', cfg]);
    assert.equal(reload.code, 1);
    assert.match(reload.stderr, /^postern: POST \/reload at http:\/\/127\.0\.0\.1:\d+: 500: invalid configuration in [^\n]*<test>: [^\n]*cannot read the file[^\n]*\[POSTERN_ADMIN_API\]\n$/);
    const noAdmin = join(tmp.path, 'no-admin.yaml');
    writeFileSync(noAdmin, 'listen:\n  - { protocol: imap, port: 0 }\nauth:\n  passdb:\n    - { driver: passwd-file, args: users }\n');
    const none = await cli(['who', '-c', noAdmin]);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /has no admin section/);
  });

  test('/metrics counts exactly the logins, failures, TLS handshakes and bytes caused here (scraped with curl)', async () => {
    // A postern of its own: its counters start at zero.
    const p = await start();
    try {
      const port = (n: number) => p.port(n);
      const scrape = () => curl(p.server.admin!.port, '/metrics', { token: TOKEN });
      let sent = 0;
      let received = 0;
      for (const user of ['alice', 'carol']) {
        const c = await readImap(port(0));
        assert.match(await c.command(`a LOGIN ${user} ${user}-pw`), /^a OK/m);
        received += (await c.command('b NOOP')).length;
        sent += 'b NOOP\r\n'.length;
        c.socket.write('c LOGOUT\r\n');
        sent += 'c LOGOUT\r\n'.length;
        received += (await c.closed()).length;
      }
      for (let i = 0; i < 3; i++) {
        const c = await readImap(port(0));
        assert.match(await c.command(`a LOGIN alice wrong-${i}`), /^a NO/m);
        c.close();
      }
      const dead = await readImap(port(0));
      assert.match(await dead.command('a LOGIN nobody pw'), /^a NO \[UNAVAILABLE\]/m);
      dead.close();
      // Plain text where a TLS ClientHello belongs: the server gives up on the handshake.
      await new Promise<void>((resolve) => {
        const s = tcpConnect(port(2), '127.0.0.1', () => s.write('a LOGIN alice alice-pw\r\n'));
        s.on('error', () => {});
        s.on('close', () => resolve());
      });
      await pollUntil(() => p.server.sessions.size === 0 || undefined, { timeoutMs: 5000, intervalMs: 20, what: 'every session gone' });

      const r = await scrape();
      assert.equal(r.status, 200);
      const m = r.body;
      const d = dovecot.ports;
      assert.equal(sample(m, 'postern_logins_total{protocol="imap",result="proxied"}'), 2);
      assert.equal(sample(m, 'postern_logins_total{protocol="imap",result="authFailed"}'), 3);
      assert.equal(sample(m, 'postern_logins_total{protocol="imap",result="proxyFailed"}'), 1);
      assert.equal(sample(m, 'postern_logins_total{protocol="pop3",result="proxied"}'), 0);
      assert.equal(sample(m, 'postern_auth_duration_seconds_count{protocol="imap"}'), 6);
      assert.equal(/^postern_passdb_errors_total\{/m.test(m), false, 'no passdb failed');
      assert.equal(sample(m, `postern_backend_connect_failures_total{backend="127.0.0.1:${deadPort}",kind="connect"}`), 1);
      assert.equal(sample(m, `postern_backend_connect_failures_total{backend="127.0.0.1:${d.imap}",kind="connect"}`), undefined);
      assert.equal(sample(m, 'postern_tls_handshake_failures_total{listener="imaps"}'), 1);
      assert.equal(sample(m, 'postern_proxy_bytes_total{direction="in",protocol="imap"}'), sent);
      assert.equal(sample(m, 'postern_proxy_bytes_total{direction="out",protocol="imap"}'), received);
      assert.ok(received > 0);
      assert.match(m, /^postern_process_cpu_seconds_total \d/m, 'process metrics, prefixed');

      const backends = JSON.parse((await curl(p.server.admin!.port, '/backends', { token: TOKEN })).body) as { backends: Array<Record<string, unknown>> };
      const down = backends.backends.find((b) => b['backend'] === `127.0.0.1:${deadPort}`);
      assert.deepEqual([down?.['failures'], down?.['consecutiveFailures'], (down?.['lastFailure'] as { kind: string } | undefined)?.kind], [1, 1, 'connect']);
      const up = backends.backends.find((b) => b['backend'] === `127.0.0.1:${d.imap}`);
      assert.deepEqual([up?.['logins'], up?.['failures'], up?.['sessions']], [2, 0, 0]);
      // The other postern in this process counted none of it.
      assert.equal(sample((await api('/metrics')).body, `postern_backend_connect_failures_total{backend="127.0.0.1:${deadPort}",kind="connect"}`), undefined);
    } finally {
      await p.close();
    }
  });

  test('postern_passdb_errors_total names the passdb that failed, even when a later one answered', async () => {
    // The first passdb fails every lookup (a table that is not there); the passwd-file after it answers.
    const broken: PassdbSpecInput = { name: 'broken-db', driver: 'sql', sql: { driver: 'sqlite', connect: join(tmp.path, 'broken.db'), password_query: "SELECT password FROM no_such_table WHERE user = '%u'" } };
    const p = await start([broken]);
    try {
      for (let i = 0; i < 2; i++) {
        const c = await readImap(p.port(0));
        assert.match(await c.command('a LOGIN alice alice-pw'), /^a OK/m);
        c.close();
      }
      const m = (await curl(p.server.admin!.port, '/metrics', { token: TOKEN })).body;
      assert.equal(sample(m, 'postern_passdb_errors_total{passdb="broken-db"}'), 2);
    } finally {
      await p.close();
    }
  });
});
