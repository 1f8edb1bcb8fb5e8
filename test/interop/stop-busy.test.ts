// `postern serve` stopped while its relay threads are busy: sessions streaming a 2 MB FETCH and
// sessions in a NOOP loop, in plaintext and in TLS (OpenSSL on the relay thread), past the point where
// a session moves to the thread. SIGTERM drains them for process.shutdown_timeout while they keep
// going, then ends them with the goodbye; every process must exit cleanly (no crash in the native
// relay's exit path) and every client must get `* BYE`. Once with one process, once with two workers.
// Then clients that stop reading before the stop, with commands on their way: postern reads and drops
// those (a close with input unread would reset the connection and lose the goodbye), gives each goodbye
// 2 s, then closes what is left; every session is logged.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { connect as tcpConnect } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { dovecotSkipReason, freePorts, getTestCerts, makeTempDir, pollUntil, skipSuite, spawnProcess, startDovecot, type DovecotInstance, type ManagedProcess, type TempDir, type TestCerts } from './harness/index.js';

const BIN = join(process.cwd(), 'bin', 'postern.js');
const BYE = '* BYE Server shutting down.\r\n';
/** Commands a client completes before the stop: the third client read moves a session to the thread. */
const BEFORE_STOP = 6;

const skip = skipSuite('stop under load', dovecotSkipReason());

interface Line {
  event?: string;
  worker?: number;
  code?: number | null;
  signal?: string | null;
  level?: number;
  [k: string]: unknown;
}

function lines(p: ManagedProcess): Line[] {
  return p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
}

interface Busy {
  kind: string;
  /** Commands completed so far (LOGIN and SELECT included). */
  done(): number;
  /** Sends `ahead` more commands at once and stops reading for `ms`, then reads on. */
  stall(ms: number, ahead: number): void;
  /** Resolves when the connection closes: the last bytes the server sent, and the error that ended it if any. */
  ended: Promise<{ tail: string; error?: Error }>;
}

/**
 * A client that logs in, selects INBOX and then repeats `command` for as long as the connection lasts,
 * each one sent when the last one's tagged reply is in. Keeps only the last 8 KiB it received.
 */
function busyClient(port: number, tls: { ca: string } | undefined, command: 'FETCH 1 BODY[]' | 'NOOP'): Busy {
  const socket = tls ? tlsConnect({ host: '127.0.0.1', port, ca: tls.ca, servername: 'localhost' }) : tcpConnect({ host: '127.0.0.1', port });
  let tail = '';
  let n = 0;
  let tag = '';
  const script = ['a LOGIN alice alice-pw', 'b SELECT INBOX'];
  const next = () => {
    tag = `c${n}`;
    socket.write(`${tag} ${script[n] !== undefined ? script[n]!.slice(2) : command}\r\n`);
  };
  socket.setEncoding('latin1');
  let greeted = false;
  socket.on('data', (d: string) => {
    tail = (tail + d).slice(-8192);
    if (!greeted) {
      if (!/\r\n/.test(tail)) return;
      greeted = true;
      return next();
    }
    const ok = new RegExp(`(^|\\n)${tag} (OK|NO|BAD)[^\\n]*\\n`).exec(tail);
    if (!ok) return;
    if (ok[2] !== 'OK') return socket.destroy(new Error(`${tag} failed: ${ok[0]}`));
    tail = tail.slice(ok.index + ok[0].length);
    n++;
    next();
  });
  let error: Error | undefined;
  const ended = new Promise<{ tail: string; error?: Error }>((resolve) => {
    socket.on('error', (err) => (error ??= err));
    socket.on('close', () => resolve({ tail, ...(error ? { error } : {}) }));
  });
  const stall = (ms: number, ahead: number) => {
    // Commands sent ahead keep the backend sending while nothing is read: the buffers between fill.
    for (let i = 0; i < ahead; i++) socket.write(`p${i} ${command}\r\n`);
    socket.pause();
    setTimeout(() => socket.resume(), ms);
  };
  return { kind: `${tls ? 'tls' : 'plain'} ${command}`, done: () => n, ended, stall };
}

describe('postern stopped while its relay threads are busy', { skip, timeout: 180_000 }, () => {
  let dovecot: DovecotInstance;
  let tmp: TempDir;
  let certs: TestCerts;

  before(async () => {
    tmp = makeTempDir('postern-stop-busy-');
    dovecot = await startDovecot({ users: [{ name: 'alice', password: 'alice-pw' }], extraConfig: 'protocol imap {\n  mail_max_userip_connections = 100\n}\n' });
    const body = Array.from({ length: 28_000 }, (_, i) => `line ${String(i).padStart(6, '0')} ${'x'.repeat(60)}`).join('\r\n');
    await dovecot.deliver('alice', Buffer.from(`From: a@example.org\r\nTo: alice@example.org\r\nSubject: large\r\n\r\n${body}\r\n`));
    certs = await getTestCerts();
    writeFileSync(join(tmp.path, 'users'), `alice:{PLAIN}alice-pw::::::proxy=y host=127.0.0.1 port=${dovecot.ports.imap}\n`);
  });

  after(async () => {
    await dovecot?.stop();
    tmp?.remove();
  });

  /** `postern serve` with a plaintext and an implicit-TLS IMAP listener, started. */
  async function start(workers: number, shutdownTimeout = '1s'): Promise<{ postern: ManagedProcess; plain: number; implicit: number }> {
    const [plain, implicit] = (await freePorts(2)) as [number, number];
    const config = join(tmp.path, `postern-${workers}.yaml`);
    writeFileSync(
      config,
      [
        `process: { workers: ${workers}, accept: spread, shutdown_timeout: ${shutdownTimeout} }`,
        'log: { level: info }',
        'listen:',
        `  - { protocol: imap, address: 127.0.0.1, port: ${plain}, tls: none }`,
        `  - { protocol: imap, address: 127.0.0.1, port: ${implicit}, tls: implicit }`,
        `tls: { cert: ${certs.server.certPath}, key: ${certs.server.keyPath} }`,
        'auth:',
        '  failure_delay: 0',
        '  passdb: [{ driver: passwd-file, args: users }]',
        'limits: { max_userip_connections: 0 }',
        '',
      ].join('\n'),
    );
    const postern = spawnProcess(process.execPath, [BIN, 'serve', '-c', config], { cwd: tmp.path, stopTimeoutMs: 15_000 });
    await postern.waitForOutput(/"event":"started"/, 20_000).catch(async (err: Error) => {
      await postern.stop();
      throw err;
    });
    return { postern, plain, implicit };
  }

  for (const workers of [1, 2]) {
    test(`${workers === 1 ? 'one process' : 'two workers'}: SIGTERM with FETCH and NOOP loops on the thread, plaintext and TLS`, async () => {
      const { postern, plain, implicit } = await start(workers);
      try {
        const clients: Busy[] = [];
        for (const port of [plain, implicit]) {
          for (const command of ['FETCH 1 BODY[]', 'NOOP'] as const) {
            for (let i = 0; i < 6; i++) clients.push(busyClient(port, port === implicit ? { ca: certs.ca.cert } : undefined, command));
          }
        }
        await pollUntil(() => clients.every((c) => c.done() >= BEFORE_STOP) || undefined, { timeoutMs: 20_000, intervalMs: 20, what: `every client ${BEFORE_STOP} commands in` });
        const atStop = clients.map((c) => c.done());
        postern.child.kill('SIGTERM');
        const ends = await Promise.all(clients.map((c) => c.ended));
        const exit = await postern.exited;
        assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, postern.output().slice(-3000));
        clients.forEach((c, i) => {
          assert.ok(c.done() > atStop[i]!, `${c.kind} went on while draining (${atStop[i]} → ${c.done()} commands)`);
          assert.equal(ends[i]!.error, undefined, c.kind);
          assert.ok(ends[i]!.tail.endsWith(BYE), `${c.kind} ends with the goodbye: …${JSON.stringify(ends[i]!.tail.slice(-120))}`);
        });
        const log = lines(postern);
        if (workers > 1) {
          const stopped = log.filter((l) => l.event === 'worker_stopped');
          assert.deepEqual(stopped.map((l) => ({ worker: l.worker, code: l.code, signal: l.signal })).sort((a, b) => a.worker! - b.worker!), [
            { worker: 0, code: 0, signal: null },
            { worker: 1, code: 0, signal: null },
          ]);
        }
        const shutdownEnds = log.filter((l) => l.event === 'session_end' && l['reason'] === 'shutdown');
        assert.equal(shutdownEnds.length, clients.length, `a session_end with reason shutdown for each client\n${postern.output().slice(-3000)}`);
        assert.deepEqual(log.filter((l) => (l.level ?? 0) >= 50), [], 'no error lines');
      } finally {
        await postern.stop();
      }
    });
  }

  test('a worker that dies while draining makes the stop fail: its line, the summary, exit code 1', async () => {
    const { postern, plain } = await start(2);
    try {
      // An open session on the victim keeps it draining for process.shutdown_timeout (the kernel picks
      // the worker that accepts: clients are added until one is there).
      const clients: Busy[] = [];
      const onVictim = () => lines(postern).some((l) => l.event === 'proxy_started' && l.worker === 1);
      for (let i = 0; i < 40 && !onVictim(); i++) {
        const c = busyClient(plain, undefined, 'NOOP');
        clients.push(c);
        await pollUntil(() => c.done() >= 3 || undefined, { timeoutMs: 10_000, intervalMs: 10, what: 'a session in its NOOP loop' });
        await new Promise((r) => setTimeout(r, 50));
      }
      assert.ok(onVictim(), 'a session on worker 1');
      const victim = lines(postern).find((l) => l.event === 'worker_started' && l.worker === 1)!;
      postern.child.kill('SIGTERM');
      await postern.waitForOutput(/"event":"draining"/, 10_000);
      process.kill(victim['pid'] as number, 'SIGABRT');
      const exit = await postern.exited;
      assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 1, signal: null }, postern.output().slice(-3000));
      const log = lines(postern);
      const stopped = log.filter((l) => l.event === 'worker_stopped').map((l) => ({ worker: l.worker, level: l.level, code: l.code, signal: l.signal }));
      assert.deepEqual(stopped.sort((a, b) => a.worker! - b.worker!), [
        { worker: 0, level: 30, code: 0, signal: null },
        { worker: 1, level: 50, code: null, signal: 'SIGABRT' },
      ]);
      assert.equal(log.find((l) => l.event === 'stop_failed')?.['workers'], 1);
      await Promise.all(clients.map((c) => c.ended));
    } finally {
      await postern.stop();
    }
  });

  test('clients that stopped reading: those back in time get the goodbye, the rest are closed at the flush deadline; every session is logged', async () => {
    // shutdown_timeout 0: the goodbyes wait behind full socket buffers of clients that stopped reading.
    // They read again 0.7 to 2.7 s after SIGTERM; postern gives each goodbye 2 s, then closes what is
    // left and exits while the last of them start reading, so the relay thread still writes TLS
    // around the exit. Three times over.
    for (let round = 0; round < 3; round++) {
      const { postern, implicit } = await start(1, '0s');
      try {
        const clients = Array.from({ length: 6 }, () => busyClient(implicit, { ca: certs.ca.cert }, 'FETCH 1 BODY[]'));
        await pollUntil(() => clients.every((c) => c.done() >= 4) || undefined, { timeoutMs: 30_000, intervalMs: 20, what: 'every client past its second FETCH' });
        // They stop reading 300 ms before the stop, long enough for the socket buffers between to fill.
        clients.forEach((c, i) => c.stall(300 + 700 + 400 * i, 8));
        await new Promise((r) => setTimeout(r, 300));
        const stoppedAt = Date.now();
        postern.child.kill('SIGTERM');
        const exit = await postern.exited;
        const took = Date.now() - stoppedAt;
        const what = `round ${round}\n${postern.output().slice(-3000)}`;
        assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, what);
        assert.ok(took < 10_000, `exited ${took} ms after SIGTERM`);
        const log = lines(postern);
        assert.deepEqual(log.filter((l) => (l.level ?? 0) >= 50), [], 'no error lines');
        const ends = log.filter((l) => l.event === 'session_end');
        assert.deepEqual(ends.map((l) => l['reason']), clients.map(() => 'shutdown'), `a session_end with reason shutdown for each client\n${what}`);
        // The first two read again 0.7 and 1.1 s after SIGTERM, well within the 2 s their goodbye is
        // given: they get all that was on its way, the goodbye and a FIN (no reset for the commands
        // they sent that postern no longer reads). The others end, one way or the other.
        const ended = await Promise.all(clients.map((c) => c.ended));
        ended.slice(0, 2).forEach((e, i) => {
          assert.equal(e.error, undefined, `client ${i}`);
          assert.ok(e.tail.endsWith(BYE), `client ${i} gets the goodbye: …${JSON.stringify(e.tail.slice(-120))}`);
        });
      } finally {
        await postern.stop();
      }
    }
  });
});
