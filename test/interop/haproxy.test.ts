// HAProxy from Debian in front of postern (send-proxy-v2), Dovecot behind it: the address of the
// client that connected to HAProxy reaches postern's logs and, through ID and XCLIENT, Dovecot's.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotSkipReason, findBinary, freePorts, getTestCerts, makeTempDir, skipSuite, spawnProcess, startDovecot, waitForListening, type DovecotInstance, type ManagedProcess } from './harness/index.js';
import { startPostern, type TestPostern } from '../support/postern.js';
import { readImap } from '../support/imap-client.js';
import { readPop3 } from '../support/pop3-client.js';

const skip = skipSuite('haproxy', dovecotSkipReason(), findBinary('haproxy') ? undefined : 'haproxy not installed');

describe('HAProxy (PROXY v2) in front of postern', { skip, timeout: 120_000 }, () => {
  let dovecot: DovecotInstance;
  let postern: TestPostern;
  let haproxy: ManagedProcess;
  let tmp: ReturnType<typeof makeTempDir>;
  let front: { imap: number; imaps: number; pop3: number };
  let caCert: string;

  before(async () => {
    const certs = await getTestCerts();
    caCert = certs.ca.cert;
    tmp = makeTempDir('postern-haproxy-');
    dovecot = await startDovecot({ users: [{ name: 'alice', password: 'alice-pw' }], trustedNetworks: '127.0.0.0/8' });
    const passwd = join(tmp.path, 'users');
    writeFileSync(passwd, [`alice:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${dovecot.ports.imap}`, `alice.pop:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${dovecot.ports.pop3} destuser=alice`, ''].join('\n'));
    postern = await startPostern({
      tls: { cert: certs.server.certPath, key: certs.server.keyPath },
      // Only HAProxy's own address: a client on 127.0.0.2 cannot send a header itself.
      haproxy_trusted_networks: ['127.0.0.1'],
      listen: [
        { protocol: 'imap', address: '127.0.0.1', port: 0, haproxy: true },
        { protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'implicit', haproxy: true },
        { protocol: 'pop3', address: '127.0.0.1', port: 0, haproxy: true },
      ],
      auth: { failure_delay: '0', passdb: [{ driver: 'passwd-file', args: passwd }] },
    });
    const [imap, imaps, pop3] = await freePorts(3);
    front = { imap: imap!, imaps: imaps!, pop3: pop3! };
    const section = (name: string, port: number, backend: number) =>
      `frontend ${name}\n  bind 127.0.0.1:${port}\n  default_backend ${name}_be\nbackend ${name}_be\n  server postern 127.0.0.1:${backend} send-proxy-v2\n`;
    const cfg = join(tmp.path, 'haproxy.cfg');
    writeFileSync(
      cfg,
      'global\n  maxconn 100\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n' +
        section('imap', front.imap, postern.port(0)) +
        section('imaps', front.imaps, postern.port(1)) +
        section('pop3', front.pop3, postern.port(2)),
    );
    haproxy = spawnProcess(findBinary('haproxy')!, ['-f', cfg, '-db'], { cwd: tmp.path });
    await waitForListening([front.imap, front.imaps, front.pop3], 10_000).catch((err: Error) => {
      throw new Error(`haproxy did not start: ${err.message}\n${haproxy.output()}`);
    });
  });

  after(async () => {
    await haproxy?.stop();
    await postern?.close();
    await dovecot?.stop();
    tmp?.remove();
  });

  test('IMAP: Dovecot and postern see the client that connected to HAProxy', async () => {
    const mark = await dovecot.logMark();
    const c = await readImap(front.imap, { localAddress: '127.0.0.2' });
    assert.match(c.greeting, /^\* OK /);
    assert.match(await c.command('a LOGIN alice alice-pw'), /^a OK /m);
    await c.command('b LOGOUT');
    c.close();
    await dovecot.waitForLog(/imap-login: Info: Login: user=<alice>,.*rip=127\.0\.0\.2,/, 5000, { since: mark });
    const end = await postern.waitForLog((r) => r.event === 'session_end' && r.user === 'alice' && r.rip === '127.0.0.2' && r.listener === 'imap:0');
    assert.equal(end.rip, '127.0.0.2');
  });

  test('IMAP over implicit TLS: the PROXY header first, then the handshake', async () => {
    const mark = await dovecot.logMark();
    const c = await readImap(front.imaps, { localAddress: '127.0.0.2', tls: { ca: caCert, servername: 'localhost' } });
    assert.match(await c.command('a LOGIN alice alice-pw'), /^a OK /m);
    await c.command('b LOGOUT');
    c.close();
    await dovecot.waitForLog(/imap-login: Info: Login: user=<alice>,.*rip=127\.0\.0\.2,/, 5000, { since: mark });
  });

  test('POP3: XCLIENT carries the address from the PROXY header', async () => {
    const mark = await dovecot.logMark();
    const c = await readPop3(front.pop3, { localAddress: '127.0.0.2' });
    assert.match(await c.pop('USER alice.pop\r\nPASS alice-pw', /^(\+OK Logged in|-ERR)/m), /\+OK Logged in/);
    await c.pop('QUIT');
    c.close();
    await dovecot.waitForLog(/pop3-login: Info: Login: user=<alice>, .*rip=127\.0\.0\.2,/, 5000, { since: mark });
    await postern.waitForLog((r) => r.event === 'session_end' && r.user === 'alice.pop' && r.rip === '127.0.0.2');
  });

  test('a client that goes around HAProxy is refused with a log line', async () => {
    const c = await readImap(postern.port(0), { localAddress: '127.0.0.2', greeting: /^$/ });
    assert.equal(await c.closed(5000), '');
    await postern.waitForLog((r) => r.event === 'haproxy_refused' && r.peer === '127.0.0.2');
  });
});
