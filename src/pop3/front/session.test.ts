// The pre-login state machine, driven by scripted exchanges over loopback and the in-memory passdb.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MULTI_END, readPop3 } from '../../../test/support/pop3-client.js';
import { startPop3Front, type TestFront } from '../../../test/support/pop3-front.js';

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const USERS = { alice: { password: 'alice-pw' }, off: { password: 'pw', fields: { nologin: 'y', reason: 'Moved to pop.example.org.' } } };

describe('POP3 front: from loopback (plaintext allowed)', () => {
  let front: TestFront;
  before(async () => (front = await startPop3Front({ users: USERS, pop3: { login_timeout: '300ms' } })));
  after(() => front.close());

  it('greets, and lists what it serves before login', async () => {
    const c = await readPop3(front.port);
    assert.equal(c.greeting, '+OK postern ready.\r\n');
    const capa = await c.pop('CAPA', MULTI_END);
    assert.equal(capa, '+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\nUSER\r\nSASL PLAIN LOGIN\r\n.\r\n');
    assert.equal(await c.pop('AUTH', MULTI_END), '+OK\r\nPLAIN\r\nLOGIN\r\n.\r\n');
    c.close();
  });

  it('a wrong password gets -ERR [AUTH]; the third failure closes the connection', async () => {
    const c = await readPop3(front.port);
    assert.equal(await c.pop('USER alice'), '+OK\r\n');
    assert.equal(await c.pop('PASS wrong'), '-ERR [AUTH] Authentication failed.\r\n');
    assert.equal(await c.pop(`AUTH PLAIN ${b64('\0alice\0wrong')}`), '-ERR [AUTH] Authentication failed.\r\n');
    assert.equal(await c.pop('USER nobody\r\nPASS x', /^-ERR/m), '+OK\r\n-ERR [AUTH] Authentication failed.\r\n');
    await c.closed();
  });

  it('SASL: initial response, an empty challenge, LOGIN\'s challenges, "*" and bad base64', async () => {
    const c = await readPop3(front.port);
    assert.equal(await c.pop('AUTH PLAIN', /^\+ \r\n/m), '+ \r\n');
    assert.equal(await c.pop('*'), '-ERR Authentication aborted by client.\r\n');
    assert.equal(await c.pop('AUTH LOGIN', /^\+ .*\r\n/m), `+ ${b64('Username:')}\r\n`);
    assert.equal(await c.pop(b64('alice'), /^\+ .*\r\n/m), `+ ${b64('Password:')}\r\n`);
    assert.equal(await c.pop('not base64!'), '-ERR [AUTH] Invalid base64 data in continued response\r\n');
    assert.equal(await c.pop('AUTH PLAIN ???'), '-ERR [AUTH] Invalid base64 data in initial response\r\n');
    assert.equal(await c.pop('AUTH CRAM-MD5'), '-ERR [AUTH] Unsupported authentication mechanism.\r\n');
    c.close();
  });

  it('nologin with a reason, and PASS without USER', async () => {
    const c = await readPop3(front.port);
    assert.equal(await c.pop('PASS x'), '-ERR No username given.\r\n');
    assert.equal(await c.pop('USER off\r\nPASS pw', /^-ERR/m), '+OK\r\n-ERR [AUTH] Moved to pop.example.org.\r\n');
    assert.equal(await c.pop('APOP alice 0123456789abcdef0123456789abcdef'), '-ERR APOP not enabled.\r\n');
    c.close();
  });

  it('unknown commands, NOOP among them: the third in a row closes; a known one resets the count', async () => {
    const c = await readPop3(front.port);
    assert.equal(await c.pop('NOOP'), '-ERR Unknown command.\r\n');
    assert.equal(await c.pop('STAT'), '-ERR Unknown command.\r\n');
    await c.pop('CAPA', MULTI_END);
    assert.equal(await c.pop('US\0ER alice'), '-ERR Unknown command.\r\n');
    await c.pop('LIST');
    assert.equal(await c.pop('RETR 1', /Too many.*\r\n/), '-ERR Unknown command.\r\n-ERR Too many invalid bad commands.\r\n');
    await c.closed();
  });

  it('a line over max_line_length closes with "Input buffer full"', async () => {
    const c = await readPop3(front.port);
    assert.match(await c.pop(`PASS ${'x'.repeat(70_000)}`), /^-ERR Input buffer full, aborting\r\n$/);
    await c.closed();
  });

  it('STLS without TLS, QUIT, and the login timeout', async () => {
    const c = await readPop3(front.port);
    assert.equal(await c.pop('STLS'), "-ERR TLS support isn't enabled.\r\n");
    assert.equal(await c.pop('QUIT'), '+OK Logging out\r\n');
    await c.closed();
    const idle = await readPop3(front.port);
    assert.equal(await idle.closed(3000), '-ERR Disconnected for inactivity.\r\n');
    const end = await front.waitForLog((r) => r.event === 'session_end' && r.reason === 'login timeout');
    assert.equal(typeof end.duration_ms, 'number');
  });

  it('XCLIENT from a client outside login_trusted_networks is ignored, as Dovecot does', async () => {
    const c = await readPop3(front.port);
    assert.equal(await c.pop('XCLIENT ADDR=192.0.2.99 TTL=1'), '+OK You are not from trusted IP - ignoring\r\n');
    // TTL=1 was not taken: the login is not refused as a loop.
    assert.equal(await c.pop('USER alice\r\nPASS alice-pw', /^-ERR/m), '+OK\r\n-ERR [SYS/TEMP] Account is temporarily unavailable.\r\n');
    c.close();
  });
});

describe('POP3 front: disable_plaintext_auth for a remote client without TLS', () => {
  let front: TestFront;
  before(async () => (front = await startPop3Front({ users: USERS, remoteIp: '192.0.2.10' })));
  after(() => front.close());

  it('offers neither USER nor SASL, and refuses each way of sending a password', async () => {
    const c = await readPop3(front.port);
    assert.equal(await c.pop('CAPA', MULTI_END), '+OK\r\nCAPA\r\nTOP\r\nUIDL\r\nRESP-CODES\r\nPIPELINING\r\nAUTH-RESP-CODE\r\n.\r\n');
    const refused = '-ERR [AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n';
    assert.equal(await c.pop('USER alice'), refused);
    assert.equal(await c.pop('PASS alice-pw'), refused);
    assert.equal(await c.pop(`AUTH PLAIN ${b64('\0alice\0alice-pw')}`), '-ERR [AUTH] Plaintext authentication disabled.\r\n');
    assert.equal(await c.pop('AUTH', MULTI_END), '+OK\r\n.\r\n');
    c.close();
    assert.ok(!front.logs.some((r) => r.event === 'auth_failed'), 'no password was checked');
  });
});

describe('POP3 front: a trusted proxy in front', () => {
  let front: TestFront;
  before(async () => (front = await startPop3Front({ users: USERS, trustedNetworks: ['127.0.0.0/8'] })));
  after(() => front.close());

  it('is greeted with [XCLIENT]; XCLIENT sets the address logged and refuses malformed values', async () => {
    const c = await readPop3(front.port);
    assert.equal(c.greeting, '+OK [XCLIENT] postern ready.\r\n');
    assert.equal(await c.pop('XCLIENT ADDR=not-an-ip PORT=1'), '-ERR Invalid parameters\r\n');
    assert.equal(await c.pop('XCLIENT PORT=70000'), '-ERR Invalid parameters\r\n');
    assert.equal(await c.pop('xclient addr=192.0.2.77 port=4321 session=upstream-id-1 ttl=5 forward=eA=='), '+OK Updated\r\n');
    assert.equal(await c.pop('USER alice\r\nPASS wrong', /^-ERR/m), '+OK\r\n-ERR [AUTH] Authentication failed.\r\n');
    const failed = await front.waitForLog((r) => r.event === 'auth_failed');
    assert.equal(failed.rip, '192.0.2.77');
    assert.equal(failed.session, 'upstream-id-1');
    c.close();
  });

  it('a forwarded TTL of 1 is refused as a loop', async () => {
    const c = await readPop3(front.port);
    assert.equal(await c.pop('XCLIENT TTL=1'), '+OK Updated\r\n');
    assert.equal(await c.pop('USER alice\r\nPASS alice-pw', /^-ERR/m), '+OK\r\n-ERR Account is temporarily unavailable.\r\n');
    await front.waitForLog((r) => r.event === 'proxy_loop');
    c.close();
  });
});
