// The POP3 login proxy against real Dovecot POP3 backends, with real clients: python poplib,
// curl and fetchmail download every message through postern, byte-identical to the backend's files.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { connect as tlsConnect } from 'node:tls';
import { chmodSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotSkipReason, findBinary, freePort, getTestCerts, makeTempDir, runCommand, runPython, skipSuite, startDovecot, type DovecotInstance, type TestCerts } from './harness/index.js';
import { startPostern, type TestPostern } from '../support/postern.js';
import { readPop3 } from '../support/pop3-client.js';

const skip = skipSuite('pop3 proxy', dovecotSkipReason(), findBinary('python3') ? undefined : 'python3 not installed');
const skipCurl = skipSuite('pop3 proxy: curl', findBinary('curl') ? undefined : 'curl not installed');
const skipFetchmail = skipSuite('pop3 proxy: fetchmail', findBinary('fetchmail') ? undefined : 'fetchmail not installed');

// Canonical CRLF messages, with what POP3 must escape or keep: lines starting with ".", a lone
// ".", 8-bit bytes, trailing spaces, a long line.
const MESSAGES = [
  'From: a@example.test\r\nTo: alice@example.test\r\nSubject: one\r\nMessage-ID: <p1@example.test>\r\n\r\n.\r\n..\r\n.leading dot\r\nend\r\n',
  `From: b@example.test\r\nTo: alice@example.test\r\nSubject: two \xe9\r\nMessage-ID: <p2@example.test>\r\n\r\n8-bit \xe4\xf6\xfc and trailing spaces   \r\n${'x'.repeat(900)}\r\n\r\n`,
  'From: c@example.test\r\nTo: alice@example.test\r\nSubject: three\r\nMessage-ID: <p3@example.test>\r\n\r\nlast\r\n',
].map((m) => Buffer.from(m, 'latin1'));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const WANT = MESSAGES.map(sha).sort();

const POPLIB = `
import base64, hashlib, json, poplib, ssl, sys
mode, port, ca, user, pw = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context(cafile=ca)
if mode == 'pop3s':
    p = poplib.POP3_SSL('localhost', port, context=ctx, timeout=15)
else:
    p = poplib.POP3('127.0.0.1', port, timeout=15)
    if mode == 'stls':
        p.stls(context=ctx)
if sys.argv[6] == 'plain':
    print(p._shortcmd('AUTH PLAIN ' + base64.b64encode(('\\0' + user + '\\0' + pw).encode()).decode()).decode())
else:
    p.user(user)
    print(p.pass_(pw).decode())
count, _ = p.stat()
hashes = []
for i in range(1, count + 1):
    resp, lines, octets = p.retr(i)
    hashes.append(hashlib.sha256(b'\\r\\n'.join(lines) + b'\\r\\n').hexdigest())
print(json.dumps({'hashes': sorted(hashes), 'uidl': len(p.uidl()[1])}))
p.quit()
`;

describe('POP3 proxy to Dovecot', { skip, timeout: 180_000 }, () => {
  let dovecot: DovecotInstance;
  let down: DovecotInstance;
  let postern: TestPostern;
  let certs: TestCerts;
  let tmp: ReturnType<typeof makeTempDir>;

  const pop3Port = () => postern.port(0); // plain + STLS
  const pop3sPort = () => postern.port(1); // implicit TLS

  before(async () => {
    certs = await getTestCerts();
    tmp = makeTempDir('postern-pop3-proxy-');
    dovecot = await startDovecot({
      users: [{ name: 'alice', password: 'alice-pw' }, { name: 'bob', password: 'bob-backend-pw' }, { name: 'carol', password: 'carol-pw' }],
      masterUser: { name: 'proxymaster', password: 'master-secret' },
      trustedNetworks: '127.0.0.0/8',
    });
    for (const m of MESSAGES) await dovecot.deliver('alice', m);
    down = await startDovecot({ users: [{ name: 'dora', password: 'dora-pw' }] });
    const deadPort = await freePort();
    const d = dovecot.ports;
    const users = [
      `alice:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${d.pop3}`,
      `bob:{PLAIN}bob-front-pw::::::proxy=y host=127.0.0.1 port=${d.pop3} master=proxymaster pass=master-secret`,
      `carol:::::::nopassword=y proxy=y host=127.0.0.1 port=${d.pop3}`,
      `alice.starttls:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${d.pop3} starttls=yes destuser=alice`,
      `alice.tls:{PLAIN}alice-pw::::::proxy=y host=localhost port=${d.pop3s} ssl=yes destuser=alice`,
      `alice.nopipe:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${d.pop3} proxy_nopipelining=y destuser=alice`,
      `alice.untrusted:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${d.pop3} proxy_not_trusted=y source_ip=127.0.0.3 destuser=alice`,
      `dora:{PLAIN}dora-pw::::::proxy=y host=127.0.0.1 port=${down.ports.pop3}`,
      `nobody:{PLAIN}pw::::::proxy=y host=127.0.0.1 port=${deadPort} proxy_timeout=3`,
    ];
    const passwd = join(tmp.path, 'users');
    writeFileSync(passwd, `${users.join('\n')}\n`);
    postern = await startPostern({
      tls: { cert: certs.server.certPath, key: certs.server.keyPath },
      listen: [
        { protocol: 'pop3', address: '127.0.0.1', port: 0 },
        { protocol: 'pop3', address: '127.0.0.1', port: 0, tls: 'implicit' },
      ],
      auth: { failure_delay: '0', passdb: [{ driver: 'passwd-file', args: passwd }] },
      proxy: { ca_file: certs.ca.certPath, max_reconnects: 1, reconnect_interval: '200ms' },
    });
  });

  after(async () => {
    await postern?.close();
    await dovecot?.stop();
    await down?.stop();
    tmp?.remove();
  });

  async function poplib(mode: 'plain' | 'stls' | 'pop3s', user: string, pw: string, login: 'userpass' | 'plain' = 'userpass') {
    const port = mode === 'pop3s' ? pop3sPort() : pop3Port();
    const r = await runPython(POPLIB, [mode, String(port), certs.ca.certPath, user, pw, login], { timeoutMs: 30_000 });
    assert.equal(r.code, 0, `poplib ${mode} ${user}: ${r.stderr}`);
    const [reply = '', json = '{}'] = r.stdout.trim().split('\n');
    return { reply, ...(JSON.parse(json) as { hashes: string[]; uidl: number }) };
  }

  test('python poplib: USER/PASS over STLS and AUTH PLAIN over implicit TLS download every message byte-identical', async () => {
    const stls = await poplib('stls', 'alice', 'alice-pw');
    assert.match(stls.reply, /^\+OK Logged in\.$/);
    assert.deepEqual(stls.hashes, WANT);
    assert.equal(stls.uidl, MESSAGES.length);
    const tls = await poplib('pop3s', 'alice', 'alice-pw', 'plain');
    assert.deepEqual(tls.hashes, WANT);
    const end = await postern.waitForLog((r) => r.event === 'session_end' && r.user === 'alice' && typeof r.bytes_out === 'number');
    assert.equal(end.backend, `127.0.0.1:${dovecot.ports.pop3}`);
    assert.ok((end.bytes_out as number) > MESSAGES.reduce((n, m) => n + m.length, 0), 'every message went through the pipe');
  });

  test('backends over plain, STARTTLS (STLS), implicit TLS and without pipelining; a master user; nopassword', async () => {
    for (const user of ['alice.starttls', 'alice.tls', 'alice.nopipe']) {
      assert.deepEqual((await poplib('pop3s', user, 'alice-pw')).hashes, WANT, user);
    }
    const mark = await dovecot.logMark();
    assert.match((await poplib('stls', 'bob', 'bob-front-pw')).reply, /^\+OK/);
    await dovecot.waitForLog(/Master user logging in as bob|pop3-login: Info: Login: user=<bob>, method=PLAIN/, 5000, { since: mark });
    assert.match((await poplib('pop3s', 'carol', 'carol-pw', 'plain')).reply, /^\+OK/);
  });

  test('curl pop3:// with STLS required and pop3s://, verified, retrieve the messages unchanged', { skip: skipCurl }, async () => {
    const got: string[] = [];
    for (let i = 1; i <= MESSAGES.length; i++) {
      const url = i % 2 ? `pop3://127.0.0.1:${pop3Port()}/${i}` : `pop3s://127.0.0.1:${pop3sPort()}/${i}`;
      const out = join(tmp.path, `curl-${i}.eml`);
      const r = await runCommand('curl', ['-sS', '--max-time', '20', '--ssl-reqd', '--cacert', certs.ca.certPath, '-u', 'alice:alice-pw', '-o', out, url], { timeoutMs: 30_000 });
      assert.equal(r.code, 0, `curl ${url}: ${r.stderr}`);
      got.push(sha(readFileSync(out)));
    }
    assert.deepEqual(got.sort(), WANT);
  });

  test('fetchmail over implicit TLS and over STLS, certificate checked, downloads every message', { skip: skipFetchmail }, async () => {
    for (const [name, port, ssl] of [['tls', pop3sPort(), 'ssl'], ['stls', pop3Port(), '']] as const) {
      const dir = join(tmp.path, `fetchmail-${name}`);
      const home = makeTempDir('postern-fetchmail-');
      try {
        const rc = join(home.path, 'fetchmailrc');
        writeFileSync(
          rc,
          `set no syslog\nset invisible\npoll localhost via 127.0.0.1 with proto POP3 service ${port} timeout 20\n` +
            `  user "alice" there with password "alice-pw" is "root" here\n` +
            `  options keep fetchall no rewrite no stripcr ${ssl} sslproto "tls1.2+" sslcommonname "localhost" sslcertck sslcertfile "${certs.ca.certPath}"\n` +
            `  mda "mkdir -p ${dir} && cat > ${dir}/msg.$$"\n`,
        );
        chmodSync(rc, 0o600);
        const r = await runCommand('fetchmail', ['-f', rc, '--nodetach', '--idfile', join(home.path, 'ids'), '--pidfile', join(home.path, 'pid')], {
          env: { FETCHMAILHOME: home.path, FETCHMAILUSER: 'root', HOME: home.path },
          timeoutMs: 60_000,
        });
        assert.equal(r.code, 0, `fetchmail ${name} exited ${r.code}: ${r.stdout}${r.stderr}`);
        const files = readdirSync(dir).map((f) => readFileSync(join(dir, f)));
        assert.deepEqual(files.map(sha).sort(), WANT, `fetchmail ${name}: ${files.map((f) => JSON.stringify(f.toString('latin1').slice(0, 200))).join('\n')}`);
      } finally {
        home.remove();
      }
    }
  });

  test('STLS: commands pipelined in the clear after it are dropped (RFC 2595 §4), and CAPA changes with TLS', async () => {
    const c = await readPop3(pop3Port());
    assert.match(await c.pop('CAPA', /^\.\r\n/m), /^STLS\r\nUSER\r\nSASL PLAIN LOGIN\r\n\.\r\n$/m);
    assert.equal(await c.pop('STLS\r\nUSER alice'), '+OK Begin TLS negotiation now.\r\n');
    const secure = tlsConnect({ socket: c.socket, ca: certs.ca.cert, servername: 'localhost' });
    await new Promise<void>((resolve, reject) => secure.once('secureConnect', resolve).once('error', reject));
    const lines = await new Promise<string>((resolve, reject) => {
      let got = '';
      const timer = setTimeout(() => reject(new Error(`timed out; got ${JSON.stringify(got)}`)), 10_000);
      secure.on('data', (d: Buffer) => {
        got += d.toString('latin1');
        if (/\.\r\n[^]*-ERR[^\r]*\r\n$/.test(got)) {
          clearTimeout(timer);
          resolve(got);
        }
      });
      secure.write('CAPA\r\nPASS alice-pw\r\n');
    });
    secure.destroy();
    assert.doesNotMatch(lines, /^STLS\r$/m, 'no STLS once TLS is on');
    assert.match(lines, /-ERR No username given\.\r\n$/, 'the USER sent in the clear was not kept');
  });

  test('wrong passwords get -ERR [AUTH], whether postern or the backend checks them; no secret is logged', async () => {
    const c = await readPop3(pop3Port());
    assert.equal(await c.pop('USER alice\r\nPASS not-her-password', /^-ERR/m), '+OK\r\n-ERR [AUTH] Authentication failed.\r\n');
    assert.equal(await c.pop('USER carol\r\nPASS wrong-pw', /^-ERR/m), '+OK\r\n-ERR [AUTH] Authentication failed.\r\n');
    c.close();
    const log = postern.rawLog();
    for (const secret of ['alice-pw', 'not-her-password', 'master-secret', 'bob-front-pw', 'carol-pw', 'wrong-pw']) assert.ok(!log.includes(secret), `log must not contain ${secret}`);
  });

  test('Dovecot logs the client address and postern\'s session id received through XCLIENT', async () => {
    const mark = await dovecot.logMark();
    const c = await readPop3(pop3Port(), { localAddress: '127.0.0.2' });
    assert.equal(await c.pop('USER alice\r\nPASS alice-pw\r\nSTAT\r\nQUIT', /^\+OK Logging out/m).then((s) => s.split('\r\n').length), 5);
    c.close();
    const line = await dovecot.waitForLog(/pop3-login: Info: Login: user=<alice>, .*rip=127\.0\.0\.2, .*session=<([^>]+)>/, 5000, { since: mark });
    const started = await postern.waitForLog((r) => r.event === 'proxy_started' && r.rip === '127.0.0.2');
    assert.equal(line[1], started.session);
  });

  test('a login is not held by a delayed ACK: Dovecot\'s +OK Logged in. follows its XCLIENT and USER replies at once', async () => {
    // Dovecot's pop3 process writes `+OK Logged in.` with Nagle on, after pop3-login's replies to
    // XCLIENT and USER: unless postern acknowledges those at once (the native dial's TCP_QUICKACK,
    // or PASS sent after USER's reply over a Node socket), it waits for Linux's delayed ACK, 40 ms
    // at least. Not a speed figure: a stall of one timer or none.
    const js = await startPostern({
      tls: { cert: certs.server.certPath, key: certs.server.keyPath },
      listen: [{ protocol: 'pop3', address: '127.0.0.1', port: 0 }],
      auth: { failure_delay: '0', passdb: [{ driver: 'passwd-file', args: join(tmp.path, 'users') }] },
      proxy: { relay: 'js' },
    });
    try {
      for (const [relay, port] of [['auto', pop3Port()], ['js', js.port(0)]] as const) {
        const took: number[] = [];
        for (let i = 0; i < 7; i++) {
          const c = await readPop3(port);
          const t0 = performance.now();
          assert.match(await c.pop('USER alice\r\nPASS alice-pw', /Logged in/), /\+OK Logged in/);
          took.push(performance.now() - t0);
          c.close();
        }
        const median = [...took].sort((a, b) => a - b)[3]!;
        assert.ok(median < 30, `relay ${relay}: logins took ${took.map((t) => t.toFixed(1)).join(', ')} ms`);
      }
    } finally {
      await js.close();
    }
  });

  test('proxy_not_trusted sends no XCLIENT: Dovecot sees postern\'s source_ip', async () => {
    const mark = await dovecot.logMark();
    const c = await readPop3(pop3Port(), { localAddress: '127.0.0.2' });
    assert.match(await c.pop('USER alice.untrusted\r\nPASS alice-pw', /Logged in/), /\+OK Logged in/);
    c.close();
    // 127.0.0.2 had XCLIENT passed the client's address on, 127.0.0.3 is postern's source_ip. Other
    // addresses are earlier logins whose lines Dovecot's log process wrote after the mark.
    const line = await dovecot.waitForLog(/pop3-login: Info: Login: user=<alice>, .*rip=(127\.0\.0\.[23]),/, 5000, { since: mark });
    assert.equal(line[1], '127.0.0.3');
  });

  test('a stopped backend gets -ERR [SYS/TEMP] while postern keeps serving', async () => {
    const open = await readPop3(pop3Port());
    assert.match(await open.pop('USER alice\r\nPASS alice-pw', /Logged in/), /Logged in/);
    await down.stop();
    const c = await readPop3(pop3Port());
    assert.equal(await c.pop('USER dora\r\nPASS dora-pw', /^-ERR/m), '+OK\r\n-ERR [SYS/TEMP] Account is temporarily unavailable.\r\n');
    assert.equal(await c.pop('USER nobody\r\nPASS pw', /^-ERR/m), '+OK\r\n-ERR [SYS/TEMP] Account is temporarily unavailable.\r\n');
    c.close();
    assert.equal((await postern.waitForLog((r) => r.event === 'proxy_failed' && r.user === 'dora')).failure, 'connect');
    assert.match(await open.pop('STAT'), /^\+OK 3 \d+\r\n$/);
    open.close();
    assert.deepEqual((await poplib('plain', 'alice', 'alice-pw')).hashes, WANT);
  });
});
