// Logins proxied by the POP3 front to a scripted backend: what each side sees.
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startFakePop3Backend, type FakePop3Backend } from '../../../test/support/fake-pop3-backend.js';
import { readPop3 } from '../../../test/support/pop3-client.js';
import { startPop3Front, type TestFront } from '../../../test/support/pop3-front.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** A port with nothing listening. */
async function deadPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('POP3 front: proxied logins', () => {
  let backend: FakePop3Backend;
  let front: TestFront;
  let down: number;

  before(async () => {
    backend = await startFakePop3Backend({
      script: (line) => {
        if (line === 'USER locked') return '+OK';
        if (line.startsWith('PASS ') && line.includes('locked')) return '-ERR [IN-USE] Mailbox is locked';
        if (line === 'USER busy') return '-ERR [SYS/TEMP] Too busy, try later';
        if (line === 'USER chatty') return '-ERR user chatty does not exist here';
        return undefined;
      },
    });
    down = await deadPort();
    const at = { proxy: 'y', host: '127.0.0.1', port: String(backend.port) };
    front = await startPop3Front({
      trustedNetworks: ['127.0.0.0/8'],
      users: {
        alice: { password: 'alice-pw', fields: { ...at, pass: 'backend-pw' } },
        carol: { password: null, fields: { ...at, nopassword: 'y' } },
        bob: { password: 'bob-pw', fields: { ...at, master: 'proxymaster', pass: 'backend-pw' } },
        untrusted: { password: 'pw', fields: { ...at, pass: 'backend-pw', proxy_not_trusted: 'y' } },
        locked: { password: null, fields: { ...at, nopassword: 'y' } },
        busy: { password: null, fields: { ...at, nopassword: 'y' } },
        chatty: { password: null, fields: { ...at, nopassword: 'y' } },
        dora: { password: 'pw', fields: { proxy: 'y', host: '127.0.0.1', port: String(down) } },
      },
    });
  });
  after(async () => {
    await front.close();
    await backend.close();
  });

  it('USER/PASS: XCLIENT and the login in one burst, the backend\'s +OK to the client, then pipelined commands flow', async () => {
    const from = backend.lines.length;
    const c = await readPop3(front.port);
    const out = await c.pop('USER alice\r\nPASS alice-pw\r\nSTAT', /^\+OK 1 42\r\n/m);
    assert.equal(out, '+OK\r\n+OK Logged in.\r\n+OK 1 42\r\n');
    assert.equal(await c.pop('QUIT'), '+OK Logging out.\r\n');
    await c.closed();
    const sent = backend.lines.slice(from);
    const started = await front.waitForLog((r) => r.event === 'proxy_started' && r.user === 'alice');
    assert.match(sent[0] ?? '', new RegExp(`^XCLIENT ADDR=127\\.0\\.0\\.1 PORT=\\d+ SESSION=${String(started.session).replace(/[+/=]/g, '\\$&')} TTL=6$`));
    assert.deepEqual(sent.slice(1), ['USER alice', 'PASS backend-pw', 'STAT', 'QUIT']);
    const end = await front.waitForLog((r) => r.event === 'session_end' && r.user === 'alice');
    assert.equal(end.backend, `127.0.0.1:${backend.port}`);
    assert.ok((end.bytes_in as number) > 0 && (end.bytes_out as number) > 0);
  });

  it('AUTH PLAIN with nopassword: the client\'s password goes to the backend', async () => {
    const from = backend.lines.length;
    const c = await readPop3(front.port);
    assert.equal(await c.pop(`AUTH PLAIN ${b64('\0carol\0backend-pw')}`), '+OK Logged in.\r\n');
    c.close();
    await backend.waitForLines(from + 3);
    assert.deepEqual(backend.lines.slice(from + 1, from + 3), ['USER carol', 'PASS backend-pw']);
  });

  it('a master user: AUTH PLAIN at the backend with the user as authorization identity', async () => {
    const from = backend.lines.length;
    const c = await readPop3(front.port);
    assert.equal(await c.pop('USER bob\r\nPASS bob-pw', /Logged in/), '+OK\r\n+OK Logged in.\r\n');
    c.close();
    await backend.waitForLines(from + 2);
    assert.equal(backend.lines[from + 1], `AUTH PLAIN ${b64('bob\0proxymaster\0backend-pw')}`);
  });

  it('proxy_not_trusted: no XCLIENT; a forwarded identity reaches the backend with the TTL counted down', async () => {
    let from = backend.lines.length;
    const c = await readPop3(front.port);
    assert.equal(await c.pop('USER untrusted\r\nPASS pw', /Logged in/), '+OK\r\n+OK Logged in.\r\n');
    c.close();
    await backend.waitForLines(from + 2);
    assert.equal(backend.lines[from], 'USER untrusted');
    from = backend.lines.length;
    const d = await readPop3(front.port);
    await d.pop('XCLIENT ADDR=2001:db8::7 PORT=1234 SESSION=front-1 TTL=4');
    assert.equal(await d.pop('USER alice\r\nPASS alice-pw', /Logged in/), '+OK\r\n+OK Logged in.\r\n');
    d.close();
    await backend.waitForLines(from + 1);
    assert.equal(backend.lines[from], 'XCLIENT ADDR=2001:db8::7 PORT=1234 SESSION=front-1 TTL=3');
  });

  it('backend refusals: [IN-USE] and [SYS/TEMP] forwarded, anything else reworded', async () => {
    const c = await readPop3(front.port);
    assert.equal(await c.pop('USER locked\r\nPASS locked', /^-ERR/m), '+OK\r\n-ERR [IN-USE] Mailbox is locked\r\n');
    assert.equal(await c.pop('USER busy\r\nPASS x', /^-ERR/m), '+OK\r\n-ERR [SYS/TEMP] Too busy, try later\r\n');
    assert.equal(await c.pop('USER chatty\r\nPASS x', /^-ERR/m), '+OK\r\n-ERR [AUTH] Authentication failed.\r\n');
    c.close();
  });

  it('a backend that is down: -ERR [SYS/TEMP], and the front goes on serving', async () => {
    const c = await readPop3(front.port);
    assert.equal(await c.pop('USER dora\r\nPASS pw', /^-ERR/m), '+OK\r\n-ERR [SYS/TEMP] Account is temporarily unavailable.\r\n');
    assert.equal(await c.pop('USER alice\r\nPASS alice-pw', /Logged in/), '+OK\r\n+OK Logged in.\r\n');
    c.close();
    const failed = await front.waitForLog((r) => r.event === 'proxy_failed' && r.user === 'dora');
    assert.equal(failed.failure, 'connect');
  });
});
