import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { connectLmtp, replyText, startFakeLmtp, type FakeLmtpBackend } from '../../../test/support/fake-lmtp-backend.js';
import { fakeAuth, startFront, until, type TestFront } from '../../../test/support/lmtp-front.js';

describe('LmtpSession over fake LMTP backends', () => {
  let a: FakeLmtpBackend;
  let b: FakeLmtpBackend;
  let front: TestFront;
  let deadPort: number;
  before(async () => {
    a = await startFakeLmtp({ users: ['alice', 'carol'] });
    b = await startFakeLmtp({ users: ['bob'] });
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
    deadPort = (dead.address() as AddressInfo).port;
    await new Promise<void>((r) => dead.close(() => r()));
    const at = (port: number, destuser: string) => ({ proxy: 'y', host: '127.0.0.1', port: String(port), destuser });
    front = await startFront(fakeAuth({
      'alice@x': at(a.port, 'alice'), 'carol@x': at(a.port, 'carol'), 'bob@x': at(b.port, 'bob'),
      'ghost@x': at(a.port, 'ghost'), 'down@x': at(deadPort, 'down'), 'local@x': {}, 'tls@x': { ...at(a.port, 'alice'), ssl: 'yes' },
    }));
  });
  after(async () => {
    await a.close();
    await b.close();
    await front.close();
  });

  it('LHLO advertises PIPELINING, 8BITMIME, ENHANCEDSTATUSCODES, SIZE; order and unknown commands are refused', async () => {
    const c = await connectLmtp(front.port);
    assert.equal(await c.cmd('MAIL FROM:<s@x>'), '503 5.5.1 Bad sequence of commands: LHLO first');
    assert.equal(await c.cmd('EHLO me'), '500 5.5.1 Unknown command');
    assert.equal(await c.cmd('LHLO me'), '250-front.test\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250 SIZE 64000000');
    assert.equal(await c.cmd('RCPT TO:<alice@x>'), '503 5.5.1 Bad sequence of commands: MAIL needed first');
    assert.equal(await c.cmd('DATA'), '503 5.5.1 Bad sequence of commands: MAIL needed first');
    assert.equal(await c.cmd('VRFY alice'), '252 2.3.3 Try RCPT instead');
    assert.equal(await c.cmd('EXPN x'), '502 5.5.1 Unsupported command');
    assert.equal(await c.cmd('MAIL FROM:<s@x> SIZE=64000001'), '552 5.3.4 Message size exceeds fixed maximum message size');
    assert.equal(await c.cmd('MAIL FROM:<s@x> AUTH=<>'), '555 5.5.4 Unsupported parameter AUTH');
    assert.equal(await c.cmd('MAIL FROM:s@x'), '501 5.5.4 Invalid path');
    assert.equal(await c.cmd('MAIL FROM:<s@x> BODY=8BITMIME SIZE=10'), '250 2.1.0 OK');
    assert.equal(await c.cmd('MAIL FROM:<s@x>'), '503 5.5.1 Bad sequence of commands: MAIL already given');
    assert.equal(await c.cmd('DATA'), '503 5.5.1 No valid recipients');
    assert.equal(await c.cmd('NOOP'), '250 2.0.0 OK');
    assert.equal(await c.cmd('RSET'), '250 2.0.0 OK');
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
    await c.closed;
  });

  it('three recipients on two backends: one session per backend, body byte-identical, one reply per recipient in RCPT order', async () => {
    const before = { a: a.deliveries.length, b: b.deliveries.length, as: a.sessions.length };
    const c = await connectLmtp(front.port);
    const body = 'Subject: hi\r\n\r\n..dot-stuffed line\r\n\xe4 8bit\r\nend\r\n';
    // all pipelined (RFC 2920), as Postfix sends them
    c.send('LHLO me\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice@x>\r\nRCPT TO:<bob@x>\r\nRCPT TO:<ghost@x>\r\nRCPT TO:<nobody@x>\r\n'
      + 'RCPT TO:<tempfail@x>\r\nRCPT TO:<local@x>\r\nRCPT TO:<carol@x>\r\nRCPT TO:<tls@x>\r\nDATA\r\n');
    const r = (await c.replies(11)).map(replyText);
    assert.deepEqual(r.slice(1), [
      '250 2.1.0 OK', '250 2.1.5 OK', '250 2.1.5 OK',
      "550 5.1.1 <ghost> User doesn't exist: ghost", // the backend's own refusal
      "550 5.1.1 <nobody@x> User doesn't exist: nobody@x",
      '451 4.3.0 <tempfail@x> Temporary user lookup failure',
      '451 4.3.0 Local delivery is not available',
      '250 2.1.5 OK',
      '451 4.4.0 Proxy failed (connect, session=S1)', // ssl=yes towards a backend without TLS
      '354 OK',
    ]);
    c.send(Buffer.from(`${body}.\r\n`, 'latin1'));
    assert.deepEqual((await c.replies(3)).map(replyText), ['250 2.0.0 <alice> Saved', '250 2.0.0 <bob> Saved', '250 2.0.0 <carol> Saved']);
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
    // one session to backend a for alice, ghost and carol; one more for tls@x's failed TLS handshake
    // Only LMTP sessions count: the TLS ClientHello of tls@x's attempt is random bytes, which may hold a newline.
    const plain = a.sessions.slice(before.as).filter((l) => l[0]?.startsWith('LHLO') === true);
    assert.equal(plain.length, 1);
    const da = a.deliveries.slice(before.a);
    const db = b.deliveries.slice(before.b);
    assert.deepEqual(da.map((d) => ({ from: d.from, rcpts: d.rcpts })), [{ from: 's@x', rcpts: ['alice', 'carol'] }]);
    assert.deepEqual(db.map((d) => d.rcpts), [['bob']]);
    assert.deepEqual(da[0]!.body, Buffer.from(body, 'latin1'));
    assert.deepEqual(db[0]!.body, Buffer.from(body, 'latin1'));
    // the passdb changed each address (destuser): the backend gets the original as ORCPT, as from Dovecot
    assert.deepEqual(plain[0]!.slice(0, 6), ['LHLO', 'MAIL s@x BODY=8BITMIME', 'RCPT alice ORCPT=rfc822;alice@x', 'RCPT ghost ORCPT=rfc822;ghost@x', 'RCPT carol ORCPT=rfc822;carol@x', 'DATA']);
  });

  it('a backend that is down: 451 4.4.0 for its recipients only', async () => {
    const c = await connectLmtp(front.port);
    c.send('LHLO me\r\nMAIL FROM:<s@x>\r\nRCPT TO:<down@x>\r\nRCPT TO:<bob@x>\r\nDATA\r\n');
    const r = (await c.replies(5)).map(replyText);
    assert.deepEqual(r.slice(1), ['250 2.1.0 OK', '451 4.4.0 Proxy failed (connect, session=S1)', '250 2.1.5 OK', '354 OK']);
    c.send('x\r\n.\r\n');
    assert.deepEqual((await c.replies(1)).map(replyText), ['250 2.0.0 <bob> Saved']);
    c.socket.destroy();
  });

  it('a backend failing mid-DATA: 451 4.4.0 for its recipients, the other backend delivers', async () => {
    const flaky = await startFakeLmtp({ users: ['eve'], dropAfterBodyBytes: 1 });
    const f2 = await startFront(fakeAuth({
      'eve@x': { proxy: 'y', host: '127.0.0.1', port: String(flaky.port), destuser: 'eve' },
      'bob@x': { proxy: 'y', host: '127.0.0.1', port: String(b.port), destuser: 'bob' },
    }));
    const c = await connectLmtp(f2.port);
    c.send('LHLO me\r\nMAIL FROM:<s@x>\r\nRCPT TO:<eve@x>\r\nRCPT TO:<bob@x>\r\nDATA\r\n');
    assert.deepEqual((await c.replies(5)).map(replyText).slice(1), ['250 2.1.0 OK', '250 2.1.5 OK', '250 2.1.5 OK', '354 OK']);
    c.send('hello\r\n');
    await until(() => flaky.sessions.length === 1 && flaky.abandonedBodyBytes > 0);
    c.send('world\r\n.\r\n');
    assert.deepEqual((await c.replies(2)).map(replyText), ['451 4.4.0 Proxy failed (connection lost, session=S1)', '250 2.0.0 <bob> Saved']);
    assert.equal(flaky.deliveries.length, 0);
    c.socket.destroy();
    await flaky.close();
    await new Promise<void>((r) => f2.server.close(() => r()));
  });

  it('a client that disconnects mid-DATA: the backend never sees the final dot, nothing is delivered', async () => {
    const n = a.deliveries.length;
    const sessionsBefore = a.sessions.length;
    const c = await connectLmtp(front.port);
    c.send('LHLO me\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice@x>\r\nDATA\r\n');
    await c.replies(4);
    c.send('Subject: half\r\n\r\nsome of the body\r\n');
    await until(() => a.sessions.length > sessionsBefore && a.sessions.at(-1)!.includes('DATA'));
    c.socket.destroy();
    await until(() => a.abandonedBodyBytes > 0);
    assert.equal(a.deliveries.length, n);
  });

  it('a body past max_message_size: 552 for every recipient, nothing delivered', async () => {
    const small = await startFront(fakeAuth({ 'alice@x': { proxy: 'y', host: '127.0.0.1', port: String(a.port), destuser: 'alice' } }), { maxMessageBytes: 100 });
    const n = a.deliveries.length;
    const c = await connectLmtp(small.port);
    c.send('LHLO me\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice@x>\r\nDATA\r\n');
    await c.replies(4);
    c.send(`${'x'.repeat(200)}\r\n.\r\n`);
    assert.deepEqual((await c.replies(1)).map(replyText), ['552 5.3.4 Message too big for system']);
    assert.equal(await c.cmd('NOOP'), '250 2.0.0 OK');
    assert.equal(a.deliveries.length, n);
    c.socket.destroy();
    await new Promise<void>((r) => small.server.close(() => r()));
  });

  it('a 30 MB body streams through whole (memory is measured in test/interop/lmtp-proxy.test.ts, with the peers out of process)', async () => {
    const n = b.deliveries.length;
    const c = await connectLmtp(front.port);
    c.send('LHLO me\r\nMAIL FROM:<s@x>\r\nRCPT TO:<bob@x>\r\nDATA\r\n');
    await c.replies(4);
    const chunk = Buffer.concat(Array<Buffer>(1000).fill(Buffer.from(`${'0123456789'.repeat(7)}\r\n`)));
    let sent = 0;
    while (sent < 30 * 1024 * 1024) {
      if (!c.socket.write(chunk)) await new Promise((r) => c.socket.once('drain', r));
      sent += chunk.length;
    }
    c.send('.\r\n');
    assert.deepEqual((await c.replies(1)).map(replyText), ['250 2.0.0 <bob> Saved']);
    assert.equal(b.deliveries[n]!.body.length, sent);
    c.socket.destroy();
  });

  it('XCLIENT to a backend that offers it (only its attributes, Dovecot order), none with proxy_not_trusted', async () => {
    const x = await startFakeLmtp({ users: ['xena'], extensions: ['XCLIENT ADDR PORT PROTO HELO SESSION TTL TIMEOUT'] });
    const at = { proxy: 'y', host: '127.0.0.1', port: String(x.port), destuser: 'xena' };
    const f = await startFront(fakeAuth({ 'xena@x': at, 'xena.untrusted@x': { ...at, proxy_not_trusted: 'y' } }));
    for (const rcpt of ['xena@x', 'xena.untrusted@x']) {
      const c = await connectLmtp(f.port);
      c.send(`LHLO client.example\r\nMAIL FROM:<s@x>\r\nRCPT TO:<${rcpt}>\r\nQUIT\r\n`);
      assert.deepEqual((await c.replies(4)).map(replyText).slice(2), ['250 2.1.5 OK', '221 2.0.0 Bye']);
      await c.closed;
    }
    await until(() => x.received.length === 2 && x.received.every((r) => r.includes('RCPT')));
    assert.match(x.received[0]!, /^LHLO front\.test\r\nXCLIENT HELO=client\.example PROTO=LMTP SESSION=S1 TTL=4 TIMEOUT=5 PORT=\d+ ADDR=127\.0\.0\.1\r\nLHLO front\.test\r\nMAIL FROM:<s@x> BODY=8BITMIME\r\nRCPT TO:<xena> ORCPT=rfc822;xena@x\r\n/);
    assert.doesNotMatch(x.received[1]!, /XCLIENT/);
    await x.close();
    await new Promise<void>((r) => f.server.close(() => r()));
  });

  it('a silent client gets 421 and is disconnected', async () => {
    const f = await startFront(fakeAuth({}), { maxMessageBytes: 1000, idleTimeoutMs: 150 });
    const c = await connectLmtp(f.port);
    assert.deepEqual((await c.replies(1)).map(replyText), ['421 4.4.2 Disconnected for inactivity']);
    await c.closed;
    await new Promise<void>((r) => f.server.close(() => r()));
  });
});
