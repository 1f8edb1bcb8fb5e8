// The LMTP proxy against two real Dovecot LMTP backends, with python smtplib.LMTP as the MTA:
// one message to recipients on both backends arrives once in each mailbox, byte-identical.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { dovecotSkipReason, findBinary, freePort, makeTempDir, pollUntil, skipSuite, startDovecot, type DovecotInstance } from './harness/index.js';
import nodemailer from 'nodemailer';
import { startPostern, type TestPostern } from '../support/postern.js';
import { connectLmtp } from '../support/fake-lmtp-backend.js';
import { deliverWithSmtplib } from '../support/lmtp-client.js';

const skip = skipSuite('lmtp proxy', dovecotSkipReason(), findBinary('python3') ? undefined : 'python3 not installed');

// What an MTA sends: a line starting with "." (smtplib dot-stuffs it), 8-bit text, a long line.
const MESSAGE = `From: sender@example.test\r\nTo: team@example.test\r\nSubject: lmtp \xe9\r\nMessage-ID: <l1@example.test>\r\n\r\n.leading dot\r\n..two dots\r\n8-bit \xe4\xf6\xfc\r\n${'x'.repeat(900)}\r\nend\r\n`;


describe('LMTP proxy to two Dovecot LMTP backends', { skip, timeout: 180_000 }, () => {
  let one: DovecotInstance;
  let two: DovecotInstance;
  let postern: TestPostern;
  let tmp: ReturnType<typeof makeTempDir>;

  before(async () => {
    tmp = makeTempDir('postern-lmtp-proxy-');
    // `one` trusts postern, so it offers XCLIENT; `two` does not.
    one = await startDovecot({ users: [{ name: 'alice', password: 'a' }, { name: 'carol', password: 'c' }], trustedNetworks: '127.0.0.0/8' });
    two = await startDovecot({ users: [{ name: 'bob', password: 'b' }] });
    const dead = await freePort();
    const passwd = join(tmp.path, 'users');
    writeFileSync(join(tmp.path, 'ca.pem'), two.ca);
    writeFileSync(passwd, [
      `alice@example.test:::::::proxy=y host=127.0.0.1 port=${one.ports.lmtp} destuser=alice`,
      `carol@example.test:::::::proxy=y host=127.0.0.1 port=${one.ports.lmtp} destuser=carol`,
      `bob@example.test:::::::proxy=y host=127.0.0.1 port=${two.ports.lmtp} destuser=bob`,
      `dora@example.test:::::::proxy=y host=127.0.0.1 port=${dead} destuser=dora proxy_timeout=3`,
      `ghost@example.test:::::::proxy=y host=127.0.0.1 port=${one.ports.lmtp} destuser=ghost`,
      `bob.starttls@example.test:::::::proxy=y host=localhost port=${two.ports.lmtp} destuser=bob starttls=yes`,
      '',
    ].join('\n'));
    postern = await startPostern({
      listen: [{ protocol: 'lmtp', address: '127.0.0.1', port: 0 }, { protocol: 'lmtp', path: join(tmp.path, 'lmtp.sock') }],
      lmtp: { max_message_size: '200M' },
      proxy: { ca_file: join(tmp.path, 'ca.pem') },
      auth: { failure_delay: '0', passdb: [{ driver: 'passwd-file', args: passwd }] },
    });
  });

  after(async () => {
    await postern?.close();
    await one?.stop();
    await two?.stop();
    tmp?.remove();
  });

  async function lmtp(rcpts: string[], target = String(postern.port(0)), message = MESSAGE) {
    return deliverWithSmtplib(target, rcpts, message);
  }

  /** Every message file in the user's Maildir new/ and cur/. */
  function stored(d: DovecotInstance, user: string): Buffer[] {
    const root = d.maildir(user);
    return ['new', 'cur'].flatMap((sub) => {
      try {
        return readdirSync(join(root, sub)).map((f) => readFileSync(join(root, sub, f)));
      } catch {
        return [];
      }
    });
  }

  /** Dovecot LMTP puts Return-Path, Delivered-To and Received on top; after them the message is ours, unstuffed, lines in LF. */
  function assertSameMessage(file: Buffer, who: string) {
    const text = file.toString('latin1').replace(/\r\n/g, '\n');
    const want = MESSAGE.replace(/\r\n/g, '\n');
    assert.ok(text.endsWith(want), `${who}: stored message differs:\n${text}`);
    const added = text.slice(0, text.length - want.length).split('\n').filter((l) => l !== '');
    for (const l of added) assert.match(l, /^(Return-Path|Delivered-To|Received):|^\s/, `${who}: unexpected added line ${l}`);
  }

  test('three recipients on two backends: each mailbox gets the message once, byte-identical; an unknown recipient is refused alone', async () => {
    const out = await lmtp(['alice@example.test', 'bob@example.test', 'nobody@example.test', 'ghost@example.test', 'carol@example.test']);
    assert.equal(out.mail, 250);
    assert.equal(out.rcpt[0], '250 2.1.5 OK');
    assert.equal(out.rcpt[1], '250 2.1.5 OK');
    assert.equal(out.rcpt[2], "550 5.1.1 <nobody@example.test> User doesn't exist: nobody@example.test");
    assert.match(out.rcpt[3]!, /^550 5\.1\.1 /, 'the backend refuses ghost itself');
    assert.equal(out.rcpt[4], '250 2.1.5 OK');
    assert.equal(out.data.length, 3);
    for (const d of out.data) assert.match(d, /^250 2\.0\.0 /);
    for (const [d, user] of [[one, 'alice'], [two, 'bob'], [one, 'carol']] as const) {
      await pollUntil(() => stored(d, user).length > 0 || undefined, { timeoutMs: 5000 });
      const files = stored(d, user);
      assert.equal(files.length, 1, `${user} got it once`);
      assertSameMessage(files[0]!, user);
    }
  });

  // Dovecot names the LHLO that follows XCLIENT (postern's own, as Dovecot's proxy sends its own):
  // the HELO part is the host name here; lmtp-proxy-chain.test.ts checks it with a fixed one.
  test('XCLIENT: the trusted backend records the MTA\'s address, the untrusted one postern\'s', async () => {
    const received = (f: Buffer) => /^Received: from ([^\r\n]*(?:\r?\n[ \t][^\r\n]*)*)/m.exec(f.toString('latin1'))?.[1]?.replace(/\s+/g, ' ') ?? '';
    const alice = received(stored(one, 'alice')[0]!);
    assert.match(alice, /^\S+ \(\[127\.0\.0\.2\]\)/, alice);
    const bob = received(stored(two, 'bob')[0]!);
    assert.match(bob, /^\S+ \(\[127\.0\.0\.1\]\)/, bob);
  });

  test('a backend that is down: 451 4.4.0 for its recipient only, the others are delivered', async () => {
    const out = await lmtp(['dora@example.test', 'bob@example.test']);
    assert.match(out.rcpt[0]!, /^451 4\.4\.0 Proxy failed \(connect, session=/);
    assert.equal(out.rcpt[1], '250 2.1.5 OK');
    assert.deepEqual(out.data.map((d) => d.slice(0, 3)), ['250']);
    await pollUntil(() => stored(two, 'bob').length === 2 || undefined, { timeoutMs: 5000 });
  });

  test('over the unix socket listener', async () => {
    const out = await lmtp(['carol@example.test'], join(tmp.path, 'lmtp.sock'));
    assert.deepEqual(out.rcpt, ['250 2.1.5 OK']);
    assert.match(out.data[0]!, /^250 2\.0\.0 /);
    await pollUntil(() => stored(one, 'carol').length === 2 || undefined, { timeoutMs: 5000 });
    for (const f of stored(one, 'carol')) assertSameMessage(f, 'carol');
  });

  test('a 100 MB message to two backends passes with flat memory', async () => {
    const base = process.memoryUsage().rss;
    let peak = base;
    const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage().rss)), 20);
    try {
      const out = await lmtp(['alice@example.test', 'bob@example.test'], String(postern.port(0)), 'BIG:100000');
      assert.deepEqual(out.rcpt, ['250 2.1.5 OK', '250 2.1.5 OK']);
      assert.deepEqual(out.data.map((d) => d.slice(0, 9)), ['250 2.0.0', '250 2.0.0']);
    } finally {
      clearInterval(timer);
    }
    const grown = (peak - base) / 2 ** 20;
    // GC lag alone shows some tens of MB here; a body held whole would be 100 MB or more.
    assert.ok(grown < 60, `postern's memory grew ${grown.toFixed(0)} MB relaying 100 MB`);
    const big = stored(one, 'alice').find((f) => f.length > 99_000_000);
    assert.ok(big, 'alice has the big message');
    assert.ok(stored(two, 'bob').some((f) => f.length > 99_000_000), 'bob has the big message');
  });

  test('nodemailer in LMTP mode: per-recipient results, the message arrives byte-identical', async () => {
    const transport = nodemailer.createTransport({ lmtp: true, host: '127.0.0.1', port: postern.port(0) });
    const aliceBefore = stored(one, 'alice').length;
    const bobBefore = stored(two, 'bob').length;
    try {
      const info = await transport.sendMail({
        envelope: { from: 'sender@example.test', to: ['alice@example.test', 'nobody@example.test', 'bob@example.test'] },
        raw: Buffer.from(MESSAGE, 'latin1'),
      });
      assert.deepEqual(info.accepted, ['alice@example.test', 'bob@example.test']);
      assert.deepEqual(info.rejected, ['nobody@example.test']);
    } finally {
      transport.close();
    }
    await pollUntil(() => (stored(one, 'alice').length > aliceBefore && stored(two, 'bob').length > bobBefore) || undefined, { timeoutMs: 5000 });
    const newest = (d: DovecotInstance, u: string) => stored(d, u).filter((f) => f.length < 10_000);
    for (const f of newest(one, 'alice')) assertSameMessage(f, 'alice');
    for (const f of newest(two, 'bob')) assertSameMessage(f, 'bob');
  });

  test('a client that disconnects mid-DATA: nothing is delivered', async () => {
    const before = stored(one, 'carol').length;
    const c = await connectLmtp(postern.port(0));
    c.send('LHLO mta\r\nMAIL FROM:<s@example.test>\r\nRCPT TO:<carol@example.test>\r\nDATA\r\n');
    const replies = await c.replies(4);
    assert.equal(replies[3]!.code, 354);
    c.send('Subject: half\r\n\r\nthe first half of the body\r\n');
    await new Promise((r) => setTimeout(r, 300));
    c.socket.destroy();
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(stored(one, 'carol').length, before);
  });

  test('starttls=yes: the backend session switches to TLS after LHLO', async () => {
    const before = stored(two, 'bob').length;
    const out = await lmtp(['bob.starttls@example.test']);
    assert.deepEqual(out.rcpt, ['250 2.1.5 OK']);
    assert.match(out.data[0]!, /^250 2\.0\.0 /);
    await pollUntil(() => stored(two, 'bob').length > before || undefined, { timeoutMs: 5000 });
    // Dovecot notes the TLS of the LMTP session in its Received header; only this delivery used it
    const overTls = stored(two, 'bob').filter((f) => /^Received: [^;]*\(using TLS/m.test(f.toString('latin1')));
    assert.equal(overTls.length, 1);
  });
});
