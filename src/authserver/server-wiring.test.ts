// The auth service as `postern serve` runs it: auth listeners from the configuration (a TCP
// port and a unix socket relative to the config folder), the same passdb chain, and a
// shutdown that does not wait for MTAs, which keep their connections open for good.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { validateConfig } from '../config/index.js';
import { silentLogger } from '../log/index.js';
import { startServer } from '../server.js';
import { RawClient } from './test-harness.js';

const T = '\t';
const plain = (user: string, pw: string) => Buffer.from(`\0${user}\0${pw}`).toString('base64');

describe('auth listeners in the configuration', () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-authwire-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, 'users'), 'alice:{PLAIN}alice-pw\ncarol:::::::nopassword=y proxy=y host=127.0.0.1\n');

  const config = (listen: unknown[]) =>
    validateConfig({ listen, auth: { failure_delay: '10ms', passdb: [{ driver: 'passwd-file', args: 'users' }] } }, '<test>');

  it('tls defaults to none for auth listeners, starttls for the others', () => {
    const c = config([{ protocol: 'auth', port: 0 }, { protocol: 'imap', port: 0 }, { protocol: 'auth', path: 'auth-client' }]);
    assert.deepEqual(c.listen.map((l) => l.tls), ['none', 'starttls', 'none']);
  });

  const bad: ReadonlyArray<[string, unknown, RegExp]> = [
    ['port and path', { protocol: 'auth', port: 1, path: 'x' }, /either port \(TCP\) or path/],
    ['neither port nor path', { protocol: 'auth' }, /either port \(TCP\) or path/],
    ['a unix socket for imap', { protocol: 'imap', path: 'x' }, /unix sockets are for auth and lmtp listeners/],
    ['mode without path', { protocol: 'auth', port: 1, mode: '0660' }, /mode applies to a unix socket/],
    ['an unquoted mode', { protocol: 'auth', path: 'x', mode: 660 }, /./],
    ['a mode that is not octal', { protocol: 'auth', path: 'x', mode: '0999' }, /octal mode in quotes/],
    ['TLS on an auth listener', { protocol: 'auth', port: 1, tls: 'implicit' }, /auth listeners have no TLS/],
  ];
  for (const [name, listener, message] of bad) {
    it(`rejects ${name}`, () => assert.throws(() => config([listener]), (err: Error & { problems?: Array<{ path: string; message: string }> }) => {
      assert.ok(err.problems?.some((p) => p.path.startsWith('listen[0]') && message.test(p.message)), JSON.stringify(err.problems));
      return true;
    }));
  }

  it('serves both, checks passwords, and closes with idle MTA connections open', async () => {
    const cfg = config([{ protocol: 'auth', address: '127.0.0.1', port: 0 }, { protocol: 'auth', path: 'auth-client', mode: '0660' }]);
    const server = await startServer({ file: join(dir, 'postern.yaml'), baseDir: dir, config: cfg }, silentLogger());
    const sock = join(dir, 'auth-client');
    try {
      assert.equal(statSync(sock).mode & 0o777, 0o660);
      assert.deepEqual(server.listeners.map((l) => [l.protocol, l.address.family]), [['auth', 'IPv4'], ['auth', 'unix']]);
      const tcp = await RawClient.connect({ host: '127.0.0.1', port: server.listeners[0]!.address.port });
      const unix = await RawClient.connect({ path: sock });
      for (const c of [tcp, unix]) {
        await c.handshake();
        c.send(`VERSION${T}1${T}0\nAUTH${T}1${T}PLAIN${T}service=smtp${T}resp=${plain('alice', 'alice-pw')}\nAUTH${T}2${T}PLAIN${T}service=smtp${T}resp=${plain('carol', 'x')}\n`);
        assert.equal(await c.reply(`OK${T}1`), `OK${T}1${T}user=alice`);
        assert.equal(await c.reply(`FAIL${T}2`), `FAIL${T}2${T}user=carol${T}reason=Authentication failed`);
      }
      const t0 = Date.now();
      await server.close();
      assert.ok(Date.now() - t0 < 2000, `close took ${Date.now() - t0} ms`);
      await tcp.waitClosed();
      await unix.waitClosed();
      assert.throws(() => statSync(sock), /ENOENT/);
    } finally {
      await server.close();
    }
  });
});
