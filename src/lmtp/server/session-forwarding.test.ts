import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connectLmtp, replyText, startFakeLmtp, type FakeLmtpBackend } from '../../../test/support/fake-lmtp-backend.js';
import { fakeAuth, startFront, until, type TestFront } from '../../../test/support/lmtp-front.js';
import { captureLogs } from '../../../test/support/logs.js';
import { freePort } from '../../../test/interop/harness/index.js';

const LHLO_TRUSTED = '250-front.test\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250-SIZE 64000000\r\n'
  + '250-XCLIENT ADDR PORT PROTO HELO LOGIN SESSION TTL TIMEOUT\r\n250 XRCPTFORWARD';

describe('LMTP front: XCLIENT from a trusted proxy in front, TTL, parameters and limits', () => {
  let x: FakeLmtpBackend;
  let trusted: TestFront;
  let untrusted: TestFront;
  const lookups: Array<{ user: string; remoteIp: string; remotePort: number }> = [];
  const logs = captureLogs();
  before(async () => {
    x = await startFakeLmtp({ users: ['xena', 'yann'], extensions: ['XCLIENT ADDR PORT PROTO HELO SESSION TTL TIMEOUT', 'XRCPTFORWARD'] });
    const at = (destuser: string) => ({ proxy: 'y', host: '127.0.0.1', port: String(x.port), destuser });
    const auth = fakeAuth({ 'xena@x': at('xena'), 'yann@x': at('yann'), 'fwd@x': { ...at('xena'), forward_origin: 'a\tb' } }, lookups);
    trusted = await startFront(auth, { trustedNetworks: { has: (ip) => ip === '127.0.0.1' }, maxRecipients: 2, log: logs.log });
    untrusted = await startFront(auth, { maxBadCommands: 3 });
  });
  after(async () => {
    await trusted.close();
    await untrusted.close();
    await x.close();
  });

  it('an untrusted peer is not offered XCLIENT and is refused it and XRCPTFORWARD, as by Dovecot', async () => {
    const c = await connectLmtp(untrusted.port);
    assert.equal(await c.cmd('LHLO mta'), '250-front.test\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250 SIZE 64000000');
    assert.equal(await c.cmd('XCLIENT ADDR=192.0.2.7'), '550 5.7.14 You are not from trusted IP');
    assert.equal(await c.cmd('MAIL FROM:<s@x>'), '250 2.1.0 OK');
    assert.equal(await c.cmd('RCPT TO:<xena@x> XRCPTFORWARD=a+zz'), '501 5.5.4 Invalid XRCPTFORWARD= parameter: invalid xtext');
    assert.equal(await c.cmd('RCPT TO:<xena@x> XRCPTFORWARD=YT1i'), '550 5.7.14 Unacceptable XRCPTFORWARD= parameter: You are not from trusted IP');
    c.socket.destroy();
  });

  it('XCLIENT from a trusted peer: a new greeting, LHLO again; the passdb, the log and the backend see the forwarded client', async () => {
    const before = x.received.length;
    const c = await connectLmtp(trusted.port);
    assert.equal(await c.cmd('LHLO proxy.front'), LHLO_TRUSTED);
    assert.equal(await c.cmd('XCLIENT ADDR=192.0.2.300'), '501 5.5.4 Invalid ADDR parameter');
    assert.equal(await c.cmd('XCLIENT PROTO=HTTP'), '501 5.5.4 Invalid PROTO parameter');
    assert.equal(await c.cmd('XCLIENT HELO=a+zz'), '501 5.5.4 Invalid HELO parameter: invalid xtext');
    assert.equal(await c.cmd('MAIL FROM:<s@x>'), '250 2.1.0 OK');
    assert.equal(await c.cmd('XCLIENT ADDR=192.0.2.7'), '503 5.5.0 XCLIENT not permitted during a mail transaction');
    assert.equal(await c.cmd('RSET'), '250 2.0.0 OK');
    assert.equal(await c.cmd('XCLIENT ADDR=IPV6:2001:db8::7 PORT=4242 HELO=mx+2Eorigin.example PROTO=ESMTP TTL=3 SESSION=fwd-1 DESTADDR=10.0.0.1'), '220 front.test postern LMTP ready');
    assert.equal(await c.cmd('MAIL FROM:<s@x>'), '503 5.5.1 Bad sequence of commands: LHLO first');
    assert.equal(await c.cmd('LHLO proxy.front'), LHLO_TRUSTED);
    assert.equal(await c.cmd('MAIL FROM:<s@x>'), '250 2.1.0 OK');
    const r1 = await c.cmd('RCPT TO:<xena@x> ORCPT=rfc822;orig+40x XRCPTFORWARD=YT1i');
    assert.equal(r1, '250 2.1.5 OK', x.received.at(-1));
    assert.equal(await c.cmd('RCPT TO:<fwd@x>'), '250 2.1.5 OK');
    assert.equal(await c.cmd('RCPT TO:<yann@x>'), '452 4.5.3 Too many recipients');
    c.send('DATA\r\n');
    await c.replies(1);
    c.send('Subject: x\r\n\r\nhello\r\n.\r\n');
    assert.deepEqual((await c.replies(2)).map(replyText), ['250 2.0.0 <xena> Saved', '250 2.0.0 <xena> Saved']);
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
    await until(() => x.received.length > before && x.received.at(-1)!.includes('QUIT'));
    // The forwarded HELO outlives the later LHLO (Dovecot's proxy_helo); TTL goes down by one; postern's own LHLO follows XCLIENT.
    const fwd = 'origin+3Da+01tb';
    assert.match(x.received.at(-1)!, new RegExp(`^LHLO front\\.test\r\nXCLIENT HELO=mx\\.origin\\.example PROTO=ESMTP SESSION=fwd-1 TTL=2 TIMEOUT=5 PORT=4242 ADDR=2001:db8::7\r\nLHLO front\\.test\r\n`
      + `MAIL FROM:<s@x> BODY=8BITMIME\r\nRCPT TO:<xena> ORCPT=rfc822;orig\\+40x XRCPTFORWARD=YT1i\r\nRCPT TO:<xena> ORCPT=rfc822;fwd@x XRCPTFORWARD=${fwd.replace(/\+/g, '\\+')}\r\nDATA\r\n`));
    assert.deepEqual(lookups.filter((l) => l.user === 'xena@x').at(-1), { user: 'xena@x', remoteIp: '2001:db8::7', remotePort: 4242 });
    const xc = await logs.waitFor((r) => r.event === 'lmtp_xclient');
    assert.deepEqual([xc.addr, xc.port, xc.helo, xc.ttl, xc.session, xc.peer], ['2001:db8::7', 4242, 'mx.origin.example', 3, 'fwd-1', '127.0.0.1']);
    const deliveries = logs.records.filter((r) => r.event === 'lmtp_delivery');
    assert.deepEqual(deliveries.map((d) => [d.from, d.rcpt, d.backend, d.code, d.size, d.session, d.rip]), [
      ['s@x', 'xena@x', `127.0.0.1:${x.port}`, 250, 21, 'fwd-1', '2001:db8::7'],
      ['s@x', 'fwd@x', `127.0.0.1:${x.port}`, 250, 21, 'fwd-1', '2001:db8::7'],
    ]);
  });

  it('a forwarded TTL of 0: 554 5.4.6 Proxying appears to be looping, and no backend is contacted', async () => {
    const sessions = x.sessions.length;
    const c = await connectLmtp(trusted.port);
    c.send('LHLO p\r\nXCLIENT TTL=0\r\nLHLO p\r\nMAIL FROM:<s@x>\r\nRCPT TO:<xena@x>\r\n');
    assert.deepEqual((await c.replies(5)).map(replyText).slice(1), ['220 front.test postern LMTP ready', LHLO_TRUSTED, '250 2.1.0 OK', '554 5.4.6 Proxying appears to be looping (TTL=0)']);
    assert.equal(x.sessions.length, sessions);
    c.socket.destroy();
  });

  it('DSN as in Dovecot 2.3: NOTIFY, RET and ENVID get 555, a malformed ORCPT 501', async () => {
    const c = await connectLmtp(untrusted.port);
    c.send('LHLO m\r\nMAIL FROM:<s@x> RET=HDRS\r\nMAIL FROM:<s@x> ENVID=e1\r\nMAIL FROM:<s@x>\r\nRCPT TO:<xena@x> NOTIFY=NEVER\r\nRCPT TO:<xena@x> ORCPT=bogus\r\n');
    assert.deepEqual((await c.replies(6)).map(replyText).slice(1),
      ['555 5.5.4 Unsupported parameter RET', '555 5.5.4 Unsupported parameter ENVID', '250 2.1.0 OK', '555 5.5.4 Unsupported parameter NOTIFY', '501 5.5.4 Invalid ORCPT= parameter']);
    c.socket.destroy();
  });

  it('past max_bad_commands of 500, 501 and 503 replies: 421 4.7.0 and the connection closes', async () => {
    const c = await connectLmtp(untrusted.port);
    c.send('EHLO a\r\nMAIL FROM:<s@x>\r\nLHLO\r\nbogus\r\nNOOP\r\n');
    assert.deepEqual((await c.replies(5)).map(replyText), ['500 5.5.1 Unknown command', '503 5.5.1 Bad sequence of commands: LHLO first',
      '501 5.5.4 Invalid domain', '500 5.5.1 Unknown command', '421 4.7.0 Too many invalid commands.']);
    await c.closed;
  });

  it('STARTTLS on a listener without TLS is refused as Dovecot does; BDAT is refused clearly', async () => {
    const c = await connectLmtp(untrusted.port);
    assert.match(await c.cmd('LHLO m'), /250 SIZE/);
    assert.equal(await c.cmd('STARTTLS'), '502 5.5.1 TLS support is not enabled.');
    assert.equal(await c.cmd('BDAT 10 LAST'), '502 5.5.1 Unsupported command');
    c.socket.destroy();
  });
});

describe('LMTP front: reconnecting to a backend', () => {
  it('a backend that comes up within proxy.max_reconnects attempts gets the recipient', async () => {
    const port = await freePort();
    const logs = captureLogs();
    const f = await startFront(fakeAuth({ 'late@x': { proxy: 'y', host: '127.0.0.1', port: String(port), destuser: 'late' } }), { maxReconnects: 5, reconnectIntervalMs: 200, log: logs.log });
    let late: FakeLmtpBackend | undefined;
    try {
      const c = await connectLmtp(f.port);
      c.send('LHLO m\r\nMAIL FROM:<s@x>\r\nRCPT TO:<late@x>\r\n');
      await logs.waitFor((r) => r.event === 'proxy_reconnect');
      late = await startFakeLmtp({ users: ['late'], port });
      assert.deepEqual((await c.replies(3)).map(replyText).slice(1), ['250 2.1.0 OK', '250 2.1.5 OK']);
      c.socket.destroy();
    } finally {
      await late?.close();
      await f.close();
    }
  });
  it('without reconnects the failure is immediate', async () => {
    const port = await freePort();
    const f = await startFront(fakeAuth({ 'gone@x': { proxy: 'y', host: '127.0.0.1', port: String(port), destuser: 'gone' } }), { maxReconnects: 0, reconnectIntervalMs: 5000 });
    const c = await connectLmtp(f.port);
    const t0 = Date.now();
    c.send('LHLO m\r\nMAIL FROM:<s@x>\r\nRCPT TO:<gone@x>\r\n');
    assert.equal(replyText((await c.replies(3))[2]!), '451 4.4.0 Proxy failed (connect, session=S1)');
    assert.ok(Date.now() - t0 < 2000);
    c.socket.destroy();
    await f.close();
  });
});

describe('LMTP front: backend connects from proxy.source_ips', () => {
  it('take the configured addresses in turn; the passdb source_ip wins', async () => {
    const b = await startFakeLmtp({ users: ['u1', 'u2', 'u3'] });
    const at = (extra: Record<string, string> = {}) => ({ proxy: 'y', host: '127.0.0.1', port: String(b.port), ...extra });
    const auth = fakeAuth({ 'u1@x': at({ destuser: 'u1' }), 'u2@x': at({ destuser: 'u2' }), 'u3@x': at({ destuser: 'u3', source_ip: '127.0.0.9' }) });
    const turns = ['127.0.0.2', '127.0.0.3'];
    let n = 0;
    const front = await startFront(auth, { sourceIp: (family) => (family === 4 ? turns[n++ % 2] : undefined) });
    try {
      // One transaction per recipient: each opens its own backend session.
      for (const rcpt of ['u1@x', 'u2@x', 'u1@x', 'u3@x']) {
        const c = await connectLmtp(front.port);
        await c.cmd('LHLO mta');
        await c.cmd('MAIL FROM:<s@x>');
        assert.equal(await c.cmd(`RCPT TO:<${rcpt}>`), '250 2.1.5 OK');
        c.send('QUIT\r\n');
        await c.closed;
      }
      assert.deepEqual(b.peers, ['127.0.0.2', '127.0.0.3', '127.0.0.2', '127.0.0.9']);
    } finally {
      await front.close();
      await b.close();
    }
  });
});
