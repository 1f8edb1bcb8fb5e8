// Reload and graceful stop of one serving process: what new connections get, what open ones keep.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, validateConfig, type ConfigInput } from '../src/config/index.js';
import { startServer, type RunningServer } from '../src/server.js';
import { captureLogs, type CapturedLogs } from './support/logs.js';
import { readImap } from './support/imap-client.js';
import { freePorts, getTestCerts, type TestCerts } from './interop/harness/index.js';

/** A scripted IMAP backend: greets, answers CAPABILITY, says OK to every other tagged command. */
async function fakeImapBackend(): Promise<{ port: number; server: Server; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => {});
    s.write('* OK [CAPABILITY IMAP4rev1 ID] fake ready\r\n');
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      let i;
      while ((i = buf.indexOf('\r\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const [tag, cmd = ''] = line.split(' ');
        if (cmd.toUpperCase() === 'CAPABILITY') s.write('* CAPABILITY IMAP4rev1 ID\r\n');
        s.write(`${tag} OK ${cmd} done\r\n`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server, sockets };
}

const loaded = (config: ConfigInput) => ({ file: '<test>', baseDir: process.cwd(), config: validateConfig(config, '<test>') });

function peerNames(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s: TLSSocket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'localhost', checkServerIdentity: () => undefined }, () => {
      const alt = s.getPeerCertificate().subjectaltname ?? '';
      s.destroy();
      resolve(alt);
    });
    s.on('error', reject);
  });
}

/** Runs `fn` with a port another listener holds; the port is free again after. */
async function whileHeld<T>(fn: (port: number) => Promise<T>): Promise<T> {
  const holder = createServer();
  await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
  try {
    return await fn((holder.address() as { port: number }).port);
  } finally {
    await new Promise((r) => holder.close(r));
  }
}

function refused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = tcpConnect({ host: '127.0.0.1', port });
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', () => resolve(true));
  });
}

describe('reload', { timeout: 60_000 }, () => {
  let certs: TestCerts;
  let backend: Awaited<ReturnType<typeof fakeImapBackend>>;
  let server: RunningServer;
  let logs: CapturedLogs;

  /** A passwd-file per configuration: `nologin` answers with the configuration's name, alice is proxied. */
  const users = (reason: string) => {
    const path = join(tmp, `users-${reason}`);
    writeFileSync(path, `nologin:{PLAIN}pw::::::nologin=y reason=${reason}\nalice:{PLAIN}pw::::::proxy=y host=127.0.0.1 port=${backend.port}\n`);
    return path;
  };
  const config = (reason: string, cert: { certPath: string; keyPath: string }, ports: number[], extra: Partial<ConfigInput> = {}): ConfigInput => ({
    tls: { cert: cert.certPath, key: cert.keyPath },
    listen: [
      { protocol: 'imap', address: '127.0.0.1', port: ports[0] ?? 0, tls: 'none', name: 'plain' },
      { protocol: 'imap', address: '127.0.0.1', port: ports[1] ?? 0, tls: 'implicit', name: 'tls' },
      ...(ports[2] !== undefined ? [{ protocol: 'imap' as const, address: '127.0.0.1', port: ports[2], tls: 'none' as const, name: 'extra' }] : []),
    ],
    auth: {
      failure_delay: '0',
      passdb: [{ driver: 'passwd-file', args: users(reason) }],
    },
    ...extra,
  });

  const tmp = mkdtempSync(join(tmpdir(), 'postern-reload-'));
  before(async () => {
    certs = await getTestCerts();
    backend = await fakeImapBackend();
    logs = captureLogs();
    server = await startServer(loaded(config('first', certs.server, [])), logs.log);
  });
  after(async () => {
    await server?.close();
    for (const s of backend?.sockets ?? []) s.destroy();
    backend?.server.close();
    rmSync(tmp, { recursive: true, force: true });
  });

  test('new connections get the new passdb, certificate and listeners; open sessions keep going', async () => {
    const [plain, tls] = [server.listeners[0]!.address.port, server.listeners[1]!.address.port];
    const other = await certs.issue(['reload.example', '127.0.0.1']);
    assert.match(await peerNames(tls, certs.ca.cert), /DNS:localhost/);

    // A proxied session and a session still before login, both opened under the first configuration.
    const proxied = await readImap(plain);
    assert.match(await proxied.command('a LOGIN alice pw'), /^a OK/m);
    const early = await readImap(plain);
    const proxiedTls = await readImap(tls, { tls: { ca: certs.ca.cert, servername: 'localhost' } });

    const spare = createServer();
    await new Promise<void>((r) => spare.listen(0, '127.0.0.1', r));
    const extraPort = (spare.address() as { port: number }).port;
    await new Promise((r) => spare.close(r));

    const result = await server.reload(loaded(config('second', other, [plain, tls, extraPort])));
    assert.deepEqual(result, { ok: true, listeners: { opened: ['extra'], closed: [], kept: ['plain', 'tls'] } });
    await logs.waitFor((r) => r['event'] === 'reloaded');

    const fresh = await readImap(plain);
    assert.match(await fresh.command('b LOGIN nologin pw'), /^b NO \[CONTACTADMIN\] second/m, 'a new connection uses the new passdb');
    assert.match(await early.command('c LOGIN nologin pw'), /^c NO \[CONTACTADMIN\] first/m, 'a connection accepted before keeps its configuration');
    assert.match(await peerNames(tls, certs.ca.cert), /DNS:reload\.example/, 'new TLS handshakes get the new certificate');
    assert.match(await proxied.command('d NOOP'), /^d OK NOOP done/m, 'the proxied session goes on');
    assert.match(await proxiedTls.command('e CAPABILITY'), /^e OK/m, 'the TLS session from before goes on');
    const onExtra = await readImap(extraPort);
    assert.match(onExtra.greeting, /^\* OK/);

    // Dropping the listener stops new connections there; the session it accepted goes on.
    const back = await server.reload(loaded(config('third', other, [plain, tls])));
    assert.equal(back.ok, true);
    assert.deepEqual(back.ok && back.listeners.closed, ['extra']);
    assert.equal(await refused(extraPort), true);
    assert.match(await onExtra.command('f CAPABILITY'), /^f OK/m);
    for (const c of [proxied, early, proxiedTls, fresh, onExtra]) c.close();
  });

  test('a configuration that cannot be built is refused and the running one stays', async () => {
    const plain = server.listeners[0]!.address.port;
    const bad = await server.reload(loaded(config('broken', { certPath: '/nonexistent/cert.pem', keyPath: '/nonexistent/key.pem' }, [plain, server.listeners[1]!.address.port])));
    assert.equal(bad.ok, false);
    assert.match(!bad.ok ? bad.error : '', /\/nonexistent\/cert\.pem/);
    const line = await logs.waitFor((r) => r['event'] === 'reload_failed');
    assert.match(String(line['msg']), /running configuration stays/);
    // A port another process holds: refused too, nothing half-opened.
    const busy = await whileHeld((taken) => server.reload(loaded(config('busy', certs.server, [plain, server.listeners[1]!.address.port, taken]))));
    assert.equal(busy.ok, false);
    assert.match(!busy.ok ? busy.error : '', /EADDRINUSE/);
    assert.deepEqual(server.listeners.map((l) => l.label), ['plain', 'tls']);
    const c = await readImap(plain);
    assert.match(await c.command('a LOGIN nologin pw'), /^a NO \[CONTACTADMIN\] third/m, 'the configuration before the refused reloads still answers');
    c.close();
  });

  test('a listener on port 0 is opened again on a port of its own at each reload, the previous one closed', async () => {
    const zero = await startServer(loaded(config('zero', certs.server, [0, 0])), logs.log);
    try {
      for (let i = 0; i < 2; i++) {
        const before = zero.listeners.map((l) => l.address.port);
        const result = await zero.reload(loaded(config('zero', certs.server, [0, 0])));
        assert.equal(result.ok, true);
        assert.deepEqual(result.ok ? result.listeners : undefined, { opened: ['plain', 'tls'], closed: ['plain', 'tls'], kept: [] });
        assert.deepEqual(zero.listeners.map((l) => l.label), ['plain', 'tls']);
        const plain = zero.listeners[0]!.address.port;
        assert.ok(!before.includes(plain), `a new port (${before} → ${plain})`);
        assert.equal(await refused(before[0]!), true, 'the previous listener is closed');
        const c = await readImap(plain);
        assert.match(await c.command('a LOGIN nologin pw'), /^a NO \[CONTACTADMIN\] zero/m);
        c.close();
      }
    } finally {
      await zero.close();
    }
  });
});

describe('graceful stop', { timeout: 60_000 }, () => {
  test('listeners close at once; sessions run until the deadline, then get * BYE', async () => {
    const backend = await fakeImapBackend();
    const logs = captureLogs();
    const server = await startServer(
      loaded({
        listen: [{ protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'none' }],
        auth: { failure_delay: '0', passdb: [{ driver: 'static', args: `password=pw proxy=y host=127.0.0.1 port=${backend.port}` }] },
      }),
      logs.log,
    );
    const port = server.listeners[0]!.address.port;
    const proxied = await readImap(port);
    assert.match(await proxied.command('a LOGIN alice pw'), /^a OK/m);
    const waiting = await readImap(port);
    const leaving = await readImap(port);

    const deadlineMs = 1500;
    const stopped = server.shutdown(deadlineMs);
    await logs.waitFor((r) => r['event'] === 'draining');
    assert.equal(await refused(port), true, 'no new connections while draining');
    assert.match(await proxied.command('b NOOP'), /^b OK NOOP done/m, 'sessions still work while draining');
    leaving.close();
    const [proxiedEnd, waitingEnd] = await Promise.all([proxied.closed(deadlineMs + 5000), waiting.closed(deadlineMs + 5000)]);
    assert.match(proxiedEnd, /\* BYE Server shutting down\.\r\n$/);
    assert.match(waitingEnd, /\* BYE Server shutting down\.\r\n$/);
    await stopped;
    const end = logs.records.find((r) => r['event'] === 'session_end' && r['user'] === 'alice');
    assert.equal(end?.['reason'], 'shutdown');
    for (const s of backend.sockets) s.destroy();
    backend.server.close();
  });

  test('a server whose sessions all end stops before the deadline', async () => {
    const logs = captureLogs();
    const server = await startServer(loaded({ listen: [{ protocol: 'imap', address: '127.0.0.1', port: 0, tls: 'none' }], auth: { passdb: [{ driver: 'static', args: 'password=pw' }] } }), logs.log);
    const c = await readImap(server.listeners[0]!.address.port);
    const stopped = server.shutdown(30_000);
    await logs.waitFor((r) => r['event'] === 'draining');
    c.close();
    await stopped;
    assert.equal(logs.records.some((r) => r['event'] === 'drain_deadline'), false);
  });
});

describe('the admin API across reloads', { timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-admin-reload-'));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const tokenFile = join(dir, 'token');
  const [OLD, NEW] = ['first-admin-token-0123456789', 'second-admin-token-0123456789'];
  const base = { listen: [{ protocol: 'imap' as const, address: '127.0.0.1', port: 0, tls: 'none' as const }], auth: { failure_delay: 0, passdb: [{ driver: 'static' as const, args: 'password=pw' }] } };
  const configFile = join(dir, 'postern.yaml');
  /** The configuration, written to its file (a POST /reload reads it there). */
  const configure = (config: ConfigInput) => {
    writeFileSync(configFile, JSON.stringify(config));
    return loadConfig(configFile);
  };
  const withAdmin = (port: number, extra: Record<string, unknown> = {}) => configure({ ...base, admin: { listen: `127.0.0.1:${port}`, token_file: tokenFile, ...extra } });
  /** The status of a request to the admin API at `port`, or 'refused' when nothing listens there. */
  const status = async (port: number, path: string, token?: string, method = 'GET'): Promise<number | 'refused'> => {
    try {
      return (await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: token ? { authorization: `Bearer ${token}` } : {} })).status;
    } catch {
      return 'refused';
    }
  };

  test('a rotated token, a new metrics rule and a new address apply at reload; an address that cannot be bound or a removed section leave no API half-moved', async () => {
    const [first, second] = (await freePorts(2)) as [number, number];
    writeFileSync(tokenFile, `${OLD}\n`);
    const logs = captureLogs();
    const server = await startServer(withAdmin(first), logs.log);
    try {
      assert.equal(await status(first, '/sessions', OLD), 200);
      assert.equal(await status(first, '/sessions', NEW), 401);

      // The token file is rewritten; the configuration itself does not change.
      writeFileSync(tokenFile, `${NEW}\n`);
      assert.equal((await server.reload(withAdmin(first))).ok, true);
      assert.equal(await status(first, '/sessions', OLD), 401, 'the old token is refused after the reload');
      assert.equal(await status(first, '/sessions', NEW), 200);
      assert.equal(await status(first, '/metrics'), 401, 'metrics need the token by default');

      // A new address and metrics open to scrapers: the API moves; nothing is left on the old port.
      assert.equal((await server.reload(withAdmin(second, { metrics_token_required: false }))).ok, true);
      assert.equal(server.admin?.port, second);
      assert.equal(await status(second, '/sessions', NEW), 200);
      assert.equal(await status(second, '/metrics'), 200, 'metrics without the token');
      assert.equal(await status(first, '/sessions', NEW), 'refused');
      const moved = await logs.waitFor((r) => r['event'] === 'admin_moved');
      assert.equal(moved['to'], `127.0.0.1:${second}`);

      // An address another process holds: the reload goes through, the API stays where it was.
      assert.equal((await whileHeld((taken) => server.reload(withAdmin(taken)))).ok, true);
      const failed = await logs.waitFor((r) => r['event'] === 'admin_reload_failed');
      assert.match(String(failed['msg']), new RegExp(`keeps its previous token and address 127\\.0\\.0\\.1:${second}: .*EADDRINUSE`));
      assert.equal(await status(second, '/sessions', NEW), 200);
      assert.equal(server.admin?.port, second);

      // The section removed, and the reload asked through the API itself: it answers, then closes.
      configure(base);
      assert.equal(await status(second, '/reload', NEW, 'POST'), 200);
      assert.equal(await status(second, '/sessions', NEW), 'refused');
      assert.equal(server.admin, undefined);
      await logs.waitFor((r) => r['event'] === 'admin_closed');
      assert.equal(logs.raw().includes(OLD) || logs.raw().includes(NEW), false, 'no token in the log');
    } finally {
      await server.close();
    }
  });

  test('added by a reload, the admin API opens, and its metrics count the logins from then on', async () => {
    const [port, imapPort] = (await freePorts(2)) as [number, number];
    writeFileSync(tokenFile, `${OLD}\n`);
    const listen = [{ ...base.listen[0]!, port: imapPort }];
    const admin = (at: number) => configure({ ...base, listen, admin: { listen: `127.0.0.1:${at}`, token_file: tokenFile } });
    const logs = captureLogs();
    const server = await startServer(configure({ ...base, listen }), logs.log);
    try {
      const login = async (pw: string) => {
        const c = await readImap(imapPort);
        try {
          return await c.command(`a LOGIN alice ${pw}`);
        } finally {
          c.close();
        }
      };
      // A login before the section exists is not counted.
      assert.match(await login('wrong'), /^a NO /);
      // An address another process holds: the reload goes through, without the API, and says why.
      assert.equal((await whileHeld((taken) => server.reload(admin(taken)))).ok, true);
      const failed = await logs.waitFor((r) => r['event'] === 'admin_reload_failed');
      assert.match(String(failed['msg']), /added by the reload cannot open: .*EADDRINUSE/);
      assert.equal(server.admin?.port, undefined, 'no admin API');

      assert.equal((await server.reload(admin(port))).ok, true);
      assert.equal(server.admin?.port, port);
      assert.equal(await status(port, '/sessions', OLD), 200);
      assert.equal(await status(port, '/sessions', NEW), 401);
      assert.match(await login('wrong'), /^a NO /);
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`, { headers: { authorization: `Bearer ${OLD}` } })).text();
      const failures = /^postern_logins_total\{protocol="imap",result="authFailed"\} (\d+)$/m.exec(metrics);
      assert.equal(failures?.[1], '1', `one failed login counted, the one after the reload:\n${metrics.split('\n').filter((l) => l.startsWith('postern_login')).join('\n')}`);
    } finally {
      await server.close();
    }
  });
});
