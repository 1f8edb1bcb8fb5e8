// Keeps the benchmark's tools from rotting: compiles loadgen.c and fake-backend.c, runs one second of
// the login mode through postern to a real Dovecot, and a few idle sessions through postern to the fake backend.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { dovecotSkipReason, freePort, getTestCerts, makeTempDir, skipSuite, startDovecot, type DovecotInstance } from '../test/interop/harness/index.js';
import { startPostern, type TestPostern } from '../test/support/postern.js';
import { benchUsers, loadgenUserArgs, populateMaildirs, startFakeBackend, type FakeBackend } from './backend.js';
import { buildCTools, cbuildSkipReason, type CTools } from './cbuild.js';
import { runFetchPinned, SHORT } from './figures.js';
import { runLoadgen } from './loadgen.js';
import { processTree } from './procstat.js';

const skip = skipSuite('bench loadgen', cbuildSkipReason(), dovecotSkipReason());
const USERS = 3;

describe('bench load generator', { skip, timeout: 120_000 }, () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let tools: CTools;
  let dovecot: DovecotInstance;
  let fake: FakeBackend;
  let toDovecot: TestPostern;
  let toFake: TestPostern;
  let toNowhere: TestPostern;
  let closedPort: number;

  const posternFor = async (port: number, extra: object = {}) => {
    const certs = await getTestCerts();
    return startPostern({
      ...extra,
      log: { level: 'warn' },
      tls: { cert: certs.server.certPath, key: certs.server.keyPath },
      listen: [
        { protocol: 'imap', address: '127.0.0.1', port: 0 },
        { protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'implicit' },
      ],
      auth: { passdb: [{ driver: 'static', args: `proxy=y nopassword=y host=127.0.0.1 port=${port}` }] },
    });
  };

  before(async () => {
    tmp = makeTempDir('bench-test');
    tools = await buildCTools(tmp.path);
    dovecot = await startDovecot({ users: benchUsers(USERS), trustedNetworks: '127.0.0.0/8' });
    populateMaildirs(dovecot, USERS);
    fake = await startFakeBackend(tools.fakeBackend);
    toDovecot = await posternFor(dovecot.ports.imap);
    toFake = await posternFor(fake.port);
    closedPort = await freePort();
    toNowhere = await posternFor(closedPort, { proxy: { max_reconnects: 0 } });
  });

  after(async () => {
    await toDovecot?.close();
    await toFake?.close();
    await toNowhere?.close();
    await fake?.stop();
    await dovecot?.stop();
    tmp?.remove();
  });

  const users = loadgenUserArgs(USERS);

  for (const tls of [false, true]) {
    test(`login mode through postern to Dovecot${tls ? ' over implicit TLS' : ''}`, async () => {
      const port = toDovecot.port(tls ? 1 : 0);
      const args = ['--mode', 'login', '--conns', '4', '--warmup', '0.2', '--duration', '1', '--port', String(port), ...users, ...(tls ? ['--tls'] : [])];
      const { result, cpu } = await runLoadgen(tools.loadgen, args, { parties: new Map([['self', process.pid]]), timeoutMs: 30_000 });
      assert.equal(result.errors, 0);
      assert.ok(result.ops > 0, 'some logins completed');
      assert.equal(result.resumed, 0, 'a full handshake every time');
      assert.ok(result.p50_us > 0 && result.p99_us >= result.p50_us);
      const self = cpu.parties['self'];
      assert.ok(cpu.wallS > 0.5 && cpu.loadgenS >= 0 && self !== undefined && self.total > 0);
      assert.ok(self.sys >= 0 && self.sys <= self.total, 'the kernel part is within the total');
    });
  }

  test('login mode with --resume: handshakes resume the sessions postern gave', async () => {
    const args = ['--mode', 'login', '--conns', '4', '--warmup', '0.2', '--duration', '1', '--port', String(toDovecot.port(1)), ...users, '--tls', '--resume'];
    const { result } = await runLoadgen(tools.loadgen, args, { parties: new Map([['self', process.pid]]), timeoutMs: 30_000 });
    assert.equal(result.errors, 0);
    assert.ok(result.ops > 0, 'some logins completed');
    // OpenSSL uses a TLS 1.3 ticket once, and Node's server gives no new ticket on a resumed
    // handshake: about every other handshake resumes.
    assert.ok((result.resumed ?? 0) >= result.ops * 0.3, `${result.resumed} of ${result.ops} resumed`);
  });

  test('idle mode holds sessions through postern to the fake backend', async () => {
    let readySessions = -1;
    const args = ['--mode', 'idle', '--sessions', '20', '--conns', '5', '--timeout', '20', '--port', String(toFake.port(0)), ...users];
    const { result } = await runLoadgen(tools.loadgen, args, {
      parties: new Map(),
      timeoutMs: 30_000,
      onReady: async (ready) => {
        readySessions = ready.sessions;
      },
    });
    assert.equal(readySessions, 20);
    assert.equal(result.dropped, 0);
    assert.equal(result.errors, 0);
  });

  test('failed connections are reported by cause, with the line that refused the last one', async () => {
    const run = async (port: number) =>
      (await runLoadgen(tools.loadgen, ['--mode', 'login', '--conns', '2', '--warmup', '0', '--duration', '1', '--port', String(port), ...users], { parties: new Map(), timeoutMs: 30_000 })).result;
    // postern answers the login, then cannot reach the backend: a tagged NO.
    const refused = await run(toNowhere.port(0));
    assert.ok(refused.errors > 0);
    assert.equal(refused.ops, 0);
    assert.equal(refused.error_kinds?.['refused'], refused.errors, JSON.stringify(refused.error_kinds));
    assert.match(refused.last_refusal ?? '', /^a NO /);
    // Nothing listens: the connects fail.
    const unreachable = await run(closedPort);
    assert.ok(unreachable.errors > 0);
    assert.equal(unreachable.error_kinds?.['connect'], unreachable.errors, JSON.stringify(unreachable.error_kinds));
    assert.equal(unreachable.last_refusal, '');
  });

  test('a server that never greets: each step gives up after --step-timeout', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    try {
      const port = (silent.address() as AddressInfo).port;
      const args = ['--mode', 'login', '--conns', '2', '--warmup', '0', '--duration', '2', '--step-timeout', '0.3', '--port', String(port), ...users];
      const { result } = await runLoadgen(tools.loadgen, args, { parties: new Map(), timeoutMs: 30_000 });
      assert.equal(result.ops, 0);
      assert.ok((result.error_kinds?.['timeout'] ?? 0) >= 2, JSON.stringify(result.error_kinds));
    } finally {
      silent.close();
    }
  });
  /** `comm cpus` of a process, e.g. `imap 1`; undefined once it has exited. */
  const placement = (pid: number) => {
    try {
      const comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
      const cpus = /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      return `${comm} ${cpus}`;
    } catch {
      return undefined;
    }
  };

  test('fetch-pinned: the backend on a core of its own, the proxy and the client on another, every core given back after', { skip: availableParallelism() < 2 ? 'needs two cores' : false }, async (t) => {
    const backend = dovecot.masterPid;
    const all = `0-${availableParallelism() - 1}`;
    // A stand-in for the proxy's process tree (the session goes straight to Dovecot here).
    const proxy = spawn('sleep', ['60'], { stdio: 'ignore' });
    t.after(() => proxy.kill());
    const ctx = { loadgen: tools.loadgen, users: USERS, durations: { ...SHORT, streamWarmupS: 0.2, streamS: 1 }, parties: new Map([['backend', backend], ['proxy', proxy.pid!]]) };
    // The backend is pinned before the call returns its promise; the session's imap process, forked later, inherits it.
    const running = runFetchPinned(ctx, { port: dovecot.ports.imap, tlsPort: dovecot.ports.imaps, pid: undefined, stop: async () => undefined });
    const seen = new Set<string>();
    let polling = true;
    const poll = (async () => {
      for (let i = 0; polling && i < 1000; i++) {
        for (const s of processTree(backend)) seen.add(`backend ${placement(s.pid)}`);
        seen.add(`proxy ${placement(proxy.pid!)}`);
        for (const s of processTree(process.pid)) if (placement(s.pid)?.startsWith('loadgen ')) seen.add(`client ${placement(s.pid)}`);
        await sleep(20);
      }
    })();
    const run = await running.finally(() => (polling = false));
    await poll;
    assert.equal(run.figure, 'fetch-pinned');
    assert.equal(run.result.errors, 0);
    assert.ok(run.result.ops > 0 && run.result.bytes >= run.result.ops * 1_000_000, `${run.result.ops} fetches of ${run.result.bytes} bytes`);
    const backendSeen = [...seen].filter((p) => p.startsWith('backend ') && !p.endsWith(' undefined'));
    assert.ok(backendSeen.includes('backend imap 1'), [...seen].join(', '));
    assert.deepEqual(backendSeen.filter((p) => !p.endsWith(' 1')), [], 'every backend process on core 1 while it ran');
    assert.ok(seen.has('client loadgen 0'), [...seen].join(', '));
    assert.ok(seen.has('proxy sleep 0'), [...seen].join(', '));
    for (const s of processTree(backend)) assert.match(placement(s.pid) ?? `gone ${all}`, new RegExp(` ${all}$`));
    assert.equal(placement(proxy.pid!), `sleep ${all}`);
  });
});
