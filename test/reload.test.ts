// Reload and graceful stop of one serving process: what new connections get, what open ones keep.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig, type ConfigInput } from '../src/config/index.js';
import { startServer, type RunningServer } from '../src/server.js';
import { captureLogs, type CapturedLogs } from './support/logs.js';
import { readImap } from './support/imap-client.js';
import { getTestCerts, type TestCerts } from './interop/harness/index.js';

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
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, '127.0.0.1', r));
    const taken = (holder.address() as { port: number }).port;
    const busy = await server.reload(loaded(config('busy', certs.server, [plain, server.listeners[1]!.address.port, taken])));
    holder.close();
    assert.equal(busy.ok, false);
    assert.match(!busy.ok ? busy.error : '', /EADDRINUSE/);
    assert.deepEqual(server.listeners.map((l) => l.label), ['plain', 'tls']);
    const c = await readImap(plain);
    assert.match(await c.command('a LOGIN nologin pw'), /^a NO \[CONTACTADMIN\] third/m, 'the configuration before the refused reloads still answers');
    c.close();
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
