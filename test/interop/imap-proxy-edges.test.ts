// TLS choices and loop protection of the IMAP proxy, against real Dovecot and openssl s_client.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotSkipReason, getTestCerts, makeTempDir, pollUntil, requireBinary, runCommand, skipSuite, startDovecot, type DovecotInstance, type TestCerts } from './harness/index.js';
import { startPostern, type TestPostern } from '../support/postern.js';
import { readImap } from '../support/imap-client.js';

const skip = skipSuite('imap proxy edges', dovecotSkipReason(), requireBinary('openssl'));

describe('IMAP proxy: TLS and loops', { skip, timeout: 120_000 }, () => {
  let certs: TestCerts;
  let selfSignedBackend: DovecotInstance;
  let postern: TestPostern;
  let tmp: ReturnType<typeof makeTempDir>;
  let passwd: string;

  before(async () => {
    certs = await getTestCerts();
    tmp = makeTempDir('postern-edges-');
    selfSignedBackend = await startDovecot({ users: [{ name: 'eve', password: 'eve-pw' }], cert: certs.selfSigned });
    const sni = await certs.issue(['mail.example.test']);
    passwd = join(tmp.path, 'users');
    writeFileSync(passwd, '');
    postern = await startPostern({
      tls: { cert: certs.server.certPath, key: certs.server.keyPath, sni: [{ names: ['mail.example.test', '*.example.net'], cert: sni.certPath, key: sni.keyPath }] },
      listen: [
        { protocol: 'imap', address: '127.0.0.1', port: 0 },
        { protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'implicit' },
      ],
      login_trusted_networks: ['127.0.0.0/8'],
      auth: { failure_delay: '0', passdb: [{ driver: 'passwd-file', args: passwd }] },
      proxy: { ca_file: certs.ca.certPath, max_reconnects: 0 },
    });
    const b = selfSignedBackend.ports;
    // Written once postern's own ports are known; the passwd-file is re-read when it changes.
    writeFileSync(
      passwd,
      [
        `eve.verified:{PLAIN}eve-pw::::::proxy=y host=127.0.0.1 port=${b.imaps} ssl=yes destuser=eve`,
        `eve.starttls:{PLAIN}eve-pw::::::proxy=y host=127.0.0.1 port=${b.imap} starttls=yes destuser=eve`,
        `eve.anycert:{PLAIN}eve-pw::::::proxy=y host=127.0.0.1 port=${b.imaps} ssl=any-cert destuser=eve`,
        `loop:{PLAIN}pw::::::proxy=y host=127.0.0.1 port=${postern.port(0)}`,
        `maybe:{PLAIN}pw::::::proxy_maybe=y host=127.0.0.1 port=${postern.port(0)}`,
        `eve:{PLAIN}eve-pw::::::proxy=y host=127.0.0.1 port=${b.imap}`,
      ].join('\n') + '\n',
    );
  });

  after(async () => {
    await postern?.close();
    await selfSignedBackend?.stop();
    tmp?.remove();
  });

  async function sClient(servername: string, verify = true) {
    const args = ['s_client', '-connect', `127.0.0.1:${postern.port(1)}`, '-servername', servername, '-CAfile', certs.ca.certPath, '-brief', '-ign_eof'];
    if (verify) args.push('-verify_return_error', '-verify_hostname', servername);
    const r = await runCommand('openssl', args, { input: 'a LOGOUT\r\n', timeoutMs: 15_000 });
    return `${r.stdout}\n${r.stderr}`;
  }

  test('SNI picks the certificate for the name the client asks for (openssl s_client)', async () => {
    const sni = await sClient('mail.example.test');
    assert.match(sni, /Peer certificate: CN ?= ?mail\.example\.test/);
    assert.match(sni, /Verification: OK/);
    assert.match(sni, /\* OK \[CAPABILITY /, 'the IMAP greeting follows the handshake');
    // *.example.net is listed for the same certificate: the wildcard picks it.
    assert.match(await sClient('imap.example.net', false), /Peer certificate: CN ?= ?mail\.example\.test/);
    // Any other name gets the default certificate.
    const dflt = await sClient('localhost');
    assert.match(dflt, /Peer certificate: CN ?= ?localhost/);
    assert.match(dflt, /Verification: OK/);
  });

  test('ssl=yes and starttls=yes refuse a backend certificate the CA did not sign: [SERVERBUG]', async () => {
    const c = await readImap(postern.port(0));
    assert.match(await c.command('a LOGIN eve.verified eve-pw'), /^a NO \[SERVERBUG\] Account is temporarily unavailable\.\r\n$/m);
    assert.match(await c.command('b LOGIN eve.starttls eve-pw'), /^b NO \[SERVERBUG\] Account is temporarily unavailable\.\r\n$/m);
    c.close();
    const fail = await postern.waitForLog((r) => r.event === 'proxy_failed' && r.user === 'eve.verified');
    assert.equal(fail.failure, 'config');
    assert.match(String(fail.detail), /certificate/i);
  });

  test('ssl=any-cert accepts it', async () => {
    const c = await readImap(postern.port(0));
    assert.match(await c.command('a LOGIN eve.anycert eve-pw'), /^a OK \[CAPABILITY /m);
    c.close();
  });

  test('proxy to one of postern\'s own listeners is refused as a loop; proxy_maybe would be local', async () => {
    const c = await readImap(postern.port(0));
    assert.match(await c.command('a LOGIN loop pw'), /^a NO \[UNAVAILABLE\] Account is temporarily unavailable\.\r\n$/m);
    assert.match(await c.command('b LOGIN maybe pw'), /^b NO \[UNAVAILABLE\] /m);
    c.close();
    const loop = await postern.waitForLog((r) => r.event === 'proxy_loop' && r.user === 'loop');
    assert.match(String(loop.detail), /loops to itself/);
    await postern.waitForLog((r) => r.event === 'no_local_store' && r.user === 'maybe');
  });

  test('a trusted proxy in front with x-proxy-ttl 1 is refused as a loop; a higher TTL passes', async () => {
    const c = await readImap(postern.port(0));
    await c.command('a ID ("x-proxy-ttl" "1" "x-originating-ip" "192.0.2.7")');
    assert.match(await c.command('b LOGIN eve eve-pw'), /^b NO \[SERVERBUG\] /m);
    c.close();
    await postern.waitForLog((r) => r.event === 'proxy_loop' && r.rip === '192.0.2.7');
    const ok = await readImap(postern.port(0));
    await ok.command('a ID ("x-proxy-ttl" "3")');
    assert.match(await ok.command('b LOGIN eve eve-pw'), /^b OK /m);
    ok.close();
  });

  test('a client that updates its TLS keys mid-session (openssl s_client K and k) goes on through the relay', async () => {
    const args = ['s_client', '-connect', `127.0.0.1:${postern.port(1)}`, '-servername', 'localhost', '-CAfile', certs.ca.certPath, '-verify_return_error', '-tls1_3', '-crlf', '-brief'];
    const child = spawn('openssl', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (out += d.toString('latin1')));
    child.stdin.on('error', () => {});
    const seen = (re: RegExp, what: string) => pollUntil(() => (re.test(out) ? true : undefined), { timeoutMs: 10_000, intervalMs: 20, what });
    try {
      await seen(/^\* OK \[CAPABILITY /m, 'the greeting');
      child.stdin.write('a LOGIN eve eve-pw\n');
      await seen(/^a OK /m, 'the login');
      // K: a KeyUpdate that asks the relay to update its own keys too; k: one that does not.
      for (const [cmd, tag] of [['K', 'b'], ['k', 'c'], ['K', 'd']] as const) {
        const before = (out.match(/KEYUPDATE/g) ?? []).length;
        child.stdin.write(`${cmd}\n`);
        await seen(new RegExp(`(KEYUPDATE[\\s\\S]*){${before + 1}}`), `s_client's KeyUpdate ${cmd}`);
        child.stdin.write(`${tag} NOOP\n`);
        await seen(new RegExp(`^${tag} OK `, 'm'), `the NOOP after KeyUpdate ${cmd}`);
      }
      child.stdin.write('e LOGOUT\n');
      await seen(/^e OK /m, 'the logout');
    } finally {
      child.kill();
    }
    assert.doesNotMatch(out, /error|alert/i, out);
  });
});
