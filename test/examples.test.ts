// Every configuration in examples/ runs as it is, through the real `postern serve`, against real Dovecot.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { dovecotSkipReason, runPython, skipSuite, spawnProcess, startDovecot, type CertFiles, type DovecotInstance, type ManagedProcess } from './interop/harness/index.js';

const ROOT = process.cwd();
const BIN = join(ROOT, 'bin', 'postern.js');
const EXAMPLES = join(ROOT, 'examples');

function yamlFiles(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) yamlFiles(p, out);
    else if (name.endsWith('.yaml')) out.push(p);
  }
  return out;
}

function exampleCert(): CertFiles {
  const r = spawnSync(process.execPath, [join(ROOT, 'scripts', 'example-certs.js')], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const certPath = join(EXAMPLES, 'certs', 'server.pem');
  const keyPath = join(EXAMPLES, 'certs', 'server.key');
  return { certPath, keyPath, cert: readFileSync(certPath, 'utf8'), key: readFileSync(keyPath, 'utf8') };
}

async function serve(config: string): Promise<ManagedProcess> {
  const proc = spawnProcess(process.execPath, [BIN, 'serve', '--config', config], { cwd: ROOT });
  await proc.waitForOutput(/postern started/, 15_000);
  return proc;
}

const IMAP_LOGIN = `
import imaplib, ssl, sys
port, ca, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context(cafile=ca)
m = imaplib.IMAP4_SSL('localhost', port, ssl_context=ctx)
try:
    m.login(user, password)
    typ, data = m.select('INBOX')
    print('OK', typ, int(data[0]))
    m.logout()
except imaplib.IMAP4.error as e:
    print('NO', e)
`;

const POP3_LOGIN = `
import poplib, ssl, sys
port, ca, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
p = poplib.POP3_SSL('localhost', port, context=ssl.create_default_context(cafile=ca), timeout=15)
try:
    p.user(user)
    p.pass_(password)
    print('OK', p.stat()[0])
    p.quit()
except poplib.error_proto as e:
    print('ERR', e.args[0].decode())
`;

describe('examples', () => {
  test('every example passes postern check', () => {
    exampleCert();
    const files = yamlFiles(EXAMPLES);
    assert.ok(files.length >= 2);
    for (const f of files) {
      const r = spawnSync(process.execPath, [BIN, 'check', '--quiet', '--config', f], { encoding: 'utf8' });
      assert.equal(r.status, 0, `${f}: ${r.stderr}`);
    }
  });

  describe('running against Dovecot', { skip: skipSuite('examples', dovecotSkipReason()), timeout: 90_000 }, () => {
    let cert: CertFiles;
    before(() => {
      cert = exampleCert();
    });

    describe('default.yaml', () => {
      let dovecot: DovecotInstance;
      let postern: ManagedProcess;
      before(async () => {
        dovecot = await startDovecot({ users: [{ name: 'demo', password: 'demo-pw' }], ports: { imap: 10143 } });
        await dovecot.deliver('demo', Buffer.from('Subject: hi\r\n\r\nhello\r\n'));
        postern = await serve(join(EXAMPLES, 'default.yaml'));
      });
      after(async () => {
        await postern?.stop();
        await dovecot?.stop();
      });

      test('a client logs in over TLS on 1993 and reads its INBOX at the backend; the backend checks the password', async () => {
        const ok = await runPython(IMAP_LOGIN, ['1993', cert.certPath, 'demo', 'demo-pw']);
        assert.equal(ok.stdout.trim(), 'OK OK 1', ok.stderr);
        const bad = await runPython(IMAP_LOGIN, ['1993', cert.certPath, 'demo', 'wrong']);
        assert.match(bad.stdout, /^NO .*\[AUTHENTICATIONFAILED\] Authentication failed\./);
      });
    });

    describe('pop3.yaml', () => {
      let dovecot: DovecotInstance;
      let postern: ManagedProcess;
      before(async () => {
        dovecot = await startDovecot({ users: [{ name: 'demo', password: 'demo-pw' }], ports: { pop3: 10110 } });
        await dovecot.deliver('demo', Buffer.from('Subject: hi\r\n\r\nhello\r\n'));
        postern = await serve(join(EXAMPLES, 'pop3.yaml'));
      });
      after(async () => {
        await postern?.stop();
        await dovecot?.stop();
      });

      test('a POP3 client logs in over TLS on 1995 and sees its mailbox at the backend; the backend checks the password', async () => {
        const ok = await runPython(POP3_LOGIN, ['1995', cert.certPath, 'demo', 'demo-pw']);
        assert.equal(ok.stdout.trim(), 'OK 1', ok.stderr);
        const bad = await runPython(POP3_LOGIN, ['1995', cert.certPath, 'demo', 'wrong']);
        assert.equal(bad.stdout.trim(), 'ERR -ERR [AUTH] Authentication failed.', bad.stderr);
      });
    });

    describe('passwd-file/postern.yaml', () => {
      let dovecot: DovecotInstance;
      let postern: ManagedProcess;
      before(async () => {
        dovecot = await startDovecot({
          users: [
            { name: 'alice', password: 'alice-pw' },
            { name: 'bob', password: 'bob-backend-pw' },
            { name: 'carol', password: 'carol-pw' },
          ],
          masterUser: { name: 'proxymaster', password: 'master-secret' },
          trustedNetworks: '127.0.0.0/8',
          cert,
          ports: { imap: 10143, imaps: 10993 },
        });
        postern = await serve(join(EXAMPLES, 'passwd-file', 'postern.yaml'));
      });
      after(async () => {
        await postern?.stop();
        await dovecot?.stop();
      });

      test('each user line routes as its comment says', async () => {
        const login = async (user: string, pw: string) => (await runPython(IMAP_LOGIN, ['2993', cert.certPath, user, pw])).stdout.trim();
        assert.equal(await login('alice', 'alice-pw'), 'OK OK 0');
        assert.match(await login('alice', 'wrong'), /^NO .*AUTHENTICATIONFAILED/);
        assert.equal(await login('bob', 'bob-pw'), 'OK OK 0', 'bob reaches the backend as the master user');
        assert.equal(await login('carol', 'carol-pw'), 'OK OK 0', 'carol over verified TLS to the backend');
        assert.match(await login('dave', 'dave-pw'), /^NO .*REFERRAL imap:\/\/dave;AUTH=\*@imap\.example\.org\//);
        await dovecot.waitForLog(/Master user logging in as bob/, 5000);
      });
    });
  });
});
