// Backends in TLS (ssl=yes, starttls=yes, any-cert) dialled by the native relay, against Node's own
// tls.connect on the same backends: the same verdicts, and TLS on both sides joined in the relay.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { before, test } from 'node:test';
import { connect as tlsConnect, createSecureContext, TLSSocket } from 'node:tls';
import { getTestCerts, runCommand, type ServerCert, type TestCerts } from '../../test/interop/harness/index.js';
import { cleanupsAfterEach } from '../../test/support/cleanups.js';
import { queuedListener } from '../../test/support/listener.js';
import { readUntil } from '../../test/support/relay.js';
import { readImap } from '../../test/support/imap-client.js';
import { startPostern, type TestPostern } from '../../test/support/postern.js';
import { createServerTls, nativeAddon, NativeSocket, nativeRelayMissing, replaceNativeRelayForTest, tlsResumed } from '../net/index.js';
import { proxyConnect, type ProxyOutcome } from './connect.js';
import { joinSockets } from './pipe.js';
import type { BackendLogin, BackendTarget, BackendTls } from './types.js';

const skip = nativeRelayMissing !== undefined ? `the native relay is not built: ${nativeRelayMissing}` : false;
const cleanups = cleanupsAfterEach();

let certs: TestCerts;
let ca: Buffer;
before(async () => {
  certs = await getTestCerts();
  ca = Buffer.from(certs.ca.cert);
});

interface TlsBackend {
  port: number;
  /** The SNI name of each handshake that completed (false: none sent). */
  servernames: (string | false)[];
  /** Whether each handshake that completed resumed a session. */
  resumed: boolean[];
  conns: TLSSocket[];
}

/**
 * An IMAP-ish backend with `cert`: implicit TLS, or a greeting in the clear and STARTTLS. It accepts
 * any LOGIN and answers `<tag> NOOP` (and ID and CAPABILITY: enough for postern's own backend login,
 * which pipelines ID and LOGIN after a greeting with capabilities). Listens on the IPv6 and IPv4 loopbacks
 * where it can, as `localhost` may resolve to either.
 */
async function tlsBackend(cert: ServerCert, tls: Exclude<BackendTls, 'none'>, o: { wantsClientCert?: boolean; greeting?: string } = {}): Promise<TlsBackend> {
  const greeting = o.greeting ?? '* OK ready';
  // A TLS 1.2 server that requires a client certificate refuses the handshake once it has sent its own.
  const secureContext = createSecureContext({ cert: cert.cert, key: cert.key, ...(o.wantsClientCert ? { maxVersion: 'TLSv1.2' as const, ca: certs.ca.cert } : {}) });
  const b: TlsBackend = { port: 0, servernames: [], resumed: [], conns: [] };
  const secured = (raw: Socket) => {
    const s = new TLSSocket(raw, { isServer: true, secureContext, ...(o.wantsClientCert ? { requestCert: true, rejectUnauthorized: true } : {}) });
    s.on('error', () => {});
    b.conns.push(s);
    s.on('secure', () => {
      b.servernames.push(s.servername ?? false);
      b.resumed.push(s.isSessionReused());
    });
    let buf = '';
    s.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      for (let i = buf.indexOf('\r\n'); i >= 0; i = buf.indexOf('\r\n')) {
        const [tag, cmd] = buf.slice(0, i).split(' ');
        buf = buf.slice(i + 2);
        if (cmd === 'LOGIN') s.write(`${tag} OK in\r\n`);
        else if (cmd === 'NOOP') s.write(`${tag} OK noop\r\n`);
        else if (cmd === 'ID') s.write(`* ID NIL\r\n${tag} OK id\r\n`);
        else if (cmd === 'CAPABILITY') s.write(`* CAPABILITY IMAP4rev1 ID\r\n${tag} OK caps\r\n`);
      }
    });
    return s;
  };
  const onConn = (raw: Socket) => {
    raw.on('error', () => {});
    cleanups.push(() => void raw.destroy());
    if (tls === 'implicit') {
      secured(raw).once('secure', function (this: TLSSocket) {
        this.write(`${greeting}\r\n`);
      });
      return;
    }
    raw.write(`${greeting}\r\n`);
    raw.once('data', (d: Buffer) => {
      if (!d.toString().startsWith('S STARTTLS')) return void raw.destroy();
      raw.write('S OK go\r\n', () => secured(raw));
    });
  };
  const servers: Server[] = [];
  for (const host of ['::1', '127.0.0.1']) {
    const srv = createServer(onConn);
    srv.on('error', () => {});
    const listening = once(srv, 'listening').then(() => true, () => false);
    srv.listen(b.port, host);
    const ok = await Promise.race([listening, once(srv, 'error').then(() => false)]);
    if (!ok) continue;
    servers.push(srv);
    b.port = (srv.address() as AddressInfo).port;
    cleanups.push(() => new Promise<void>((r) => srv.close(() => r())));
  }
  assert.ok(servers.length > 0, 'no loopback to listen on');
  return b;
}

/** The login of a backend above: LOGIN after the greeting (implicit TLS), or STARTTLS first and LOGIN once secured. */
function login(tls: Exclude<BackendTls, 'none'>): () => BackendLogin {
  return () => {
    let buf = '';
    return {
      onConnected: (secure) => (secure && tls === 'starttls' ? [{ kind: 'write', data: 'L LOGIN u p\r\n' }] : []),
      onData: (chunk) => {
        buf += chunk.toString();
        if (buf === '* OK ready\r\n') {
          buf = '';
          return [{ kind: 'write', data: tls === 'starttls' ? 'S STARTTLS\r\n' : 'L LOGIN u p\r\n' }];
        }
        if (buf.startsWith('S OK')) {
          buf = '';
          return [{ kind: 'starttls' }];
        }
        return buf.includes('L OK') ? [{ kind: 'success', clientReply: 'a OK\r\n', leftover: Buffer.alloc(0) }] : [];
      },
    };
  };
}

function target(port: number, over: Partial<BackendTarget>): BackendTarget {
  return { host: '127.0.0.1', port, tls: 'implicit', verifyCert: true, user: 'u', nopipelining: false, notTrusted: false, timeoutMs: 5000, ...over };
}

/** `trusted` null: no proxy.ca_file. */
async function dialled(t: BackendTarget, nativeDial: boolean, trusted: Buffer | null = ca, sessionReuse?: boolean): Promise<ProxyOutcome> {
  const r = await proxyConnect(t, login(t.tls as Exclude<BackendTls, 'none'>), { maxReconnects: 0, reconnectIntervalMs: 0, nativeDial, ...(trusted ? { ca: trusted } : {}), ...(sessionReuse !== undefined ? { sessionReuse } : {}) });
  if (r.kind === 'ok') cleanups.push(() => void r.socket.destroy());
  return r;
}

for (const nativeDial of [true, false]) {
  const by = nativeDial ? 'the relay' : "Node's tls.connect";

  test(`ssl=yes and starttls=yes, verified against proxy.ca_file by ${by}: SNI for a name, none for an address`, { skip }, async () => {
    for (const tls of ['implicit', 'starttls'] as const) {
      const b = await tlsBackend(certs.server, tls);
      for (const host of ['127.0.0.1', 'localhost']) {
        const r = await dialled(target(b.port, { tls, host }), nativeDial);
        assert.equal(r.kind, 'ok', `${tls} to ${host}: ${r.kind === 'failed' ? r.failure.detail : ''}`);
        if (r.kind !== 'ok') return;
        assert.equal(r.socket instanceof NativeSocket, nativeDial);
        if (r.socket instanceof NativeSocket) assert.equal(r.socket.encrypted, true);
      }
      assert.deepEqual(b.servernames, [false, 'localhost'], tls);
    }
  });

  test(`a certificate the CA did not sign, or made for another host, is a config failure with ${by}; any-cert takes both`, { skip }, async () => {
    const other = await certs.issue(['mail.example.test']);
    for (const tls of ['implicit', 'starttls'] as const) {
      for (const [cert, why] of [
        [certs.selfSigned, /self-signed certificate/],
        [other, nativeDial ? /IP address mismatch/ : /IP: 127\.0\.0\.1 is not in the cert's list/],
      ] as const) {
        const b = await tlsBackend(cert, tls);
        const refused = await dialled(target(b.port, { tls }), nativeDial);
        assert.equal(refused.kind, 'failed');
        if (refused.kind !== 'failed') return;
        assert.equal(refused.failure.kind, 'config', refused.failure.detail);
        assert.match(refused.failure.detail, /^127\.0\.0\.1:\d+: TLS certificate not accepted: /);
        assert.match(refused.failure.detail, why);
        const taken = await dialled(target(b.port, { tls, verifyCert: false }), nativeDial);
        assert.equal(taken.kind, 'ok', `any-cert, ${tls}`);
      }
    }
  });
}

test('a name checked against a certificate with no DNS names falls back to its CN with the relay as with tls.connect; an address never does', { skip }, async () => {
  // subjectAltName holds only 127.0.0.1; the CN is localhost (RFC 6125 6.4.4: the CN only when no DNS-ID is present).
  const cnOnly = await certs.issue(['127.0.0.1'], 'localhost');
  const b = await tlsBackend(cnOnly, 'implicit');
  for (const nativeDial of [true, false]) {
    const byName = await dialled(target(b.port, { host: 'localhost' }), nativeDial);
    assert.equal(byName.kind, 'ok', `by name, ${nativeDial ? 'relay' : 'Node'}: ${byName.kind === 'failed' ? byName.failure.detail : ''}`);
    const byAddress = await dialled(target(b.port, {}), nativeDial);
    assert.equal(byAddress.kind, 'ok', 'the address is in subjectAltName');
  }
  const cnAddress = await tlsBackend(await certs.issue(['localhost'], '127.0.0.1'), 'implicit');
  for (const nativeDial of [true, false]) {
    const r = await dialled(target(cnAddress.port, {}), nativeDial);
    assert.equal(r.kind === 'failed' && r.failure.kind, 'config', `an address only in the CN, ${nativeDial ? 'relay' : 'Node'}`);
  }
});

for (const nativeDial of [true, false]) {
  test(`a handshake refused for another reason is a connect failure with ${nativeDial ? 'the relay' : "Node's tls.connect"}, even under any-cert with a certificate that would not verify`, { skip }, async () => {
    const b = await tlsBackend(certs.selfSigned, 'implicit', { wantsClientCert: true });
    const r = await dialled(target(b.port, { verifyCert: false }), nativeDial);
    assert.equal(r.kind, 'failed');
    if (r.kind !== 'failed') return;
    assert.equal(r.failure.kind, 'connect', r.failure.detail);
    assert.match(r.failure.detail, /TLS handshake failed: .*handshake failure/i);
  });
}

test('without proxy.ca_file the relay trusts what Node trusts: its roots refuse the test CA, NODE_EXTRA_CA_CERTS adds it', { skip }, async () => {
  const b = await tlsBackend(certs.server, 'implicit');
  const r = await dialled(target(b.port, {}), true, null);
  assert.equal(r.kind === 'failed' && r.failure.kind, 'config');
  assert.match(r.kind === 'failed' ? r.failure.detail : '', /unable to get local issuer certificate/);
  // Node reads NODE_EXTRA_CA_CERTS at start: another process, with the test CA in it.
  const script = `import { proxyConnect } from ${JSON.stringify(new URL('./connect.js', import.meta.url).href)};
    const login = () => ({ onConnected: () => [], onData: (c) => String(c).startsWith('* OK') ? [{ kind: 'success', clientReply: '', leftover: Buffer.alloc(0) }] : [] });
    const r = await proxyConnect(${JSON.stringify(target(b.port, {}))}, login, { maxReconnects: 0, reconnectIntervalMs: 0, nativeDial: true });
    console.log(r.kind === 'ok' ? 'ok ' + r.socket.constructor.name : r.failure.detail);
    r.socket?.destroy();`;
  const out = await runCommand(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, NODE_EXTRA_CA_CERTS: certs.ca.certPath }, timeoutMs: 15_000 });
  assert.equal(out.stdout.trim(), 'ok NativeSocket', out.stderr);
});

test('the relay resumes the TLS session of a backend at the next login to it; one made under any-cert never serves a verified connection', { skip }, async () => {
  const b = await tlsBackend(certs.server, 'implicit');
  const told: (boolean | undefined)[] = [];
  for (let i = 0; i < 3; i++) {
    const r = await dialled(target(b.port, {}), true);
    assert.equal(r.kind, 'ok');
    if (r.kind === 'ok') {
      told.push(tlsResumed(r.socket));
      r.socket.destroy();
    }
  }
  assert.deepEqual(b.resumed, [false, true, true]);
  assert.deepEqual(told, [false, true, true], 'the dial says what the backend saw');
  // Node's tls.connect makes a full handshake each time, as before.
  const viaNode = await dialled(target(b.port, {}), false);
  assert.equal(viaNode.kind, 'ok');
  assert.equal(b.resumed.at(-1), false);
  const unsigned = await tlsBackend(certs.selfSigned, 'implicit');
  const anyCert = await dialled(target(unsigned.port, { verifyCert: false }), true);
  assert.equal(anyCert.kind, 'ok');
  const again = await dialled(target(unsigned.port, { verifyCert: false }), true);
  assert.equal(again.kind, 'ok');
  assert.deepEqual(unsigned.resumed, [false, true]);
  const verified = await dialled(target(unsigned.port, {}), true);
  assert.equal(verified.kind === 'failed' && verified.failure.kind, 'config', 'the certificate is checked, not skipped by a resumed session');
});

test('proxy.ssl_session_reuse false: a full handshake every dial, to backends the same context already resumed with', { skip }, async () => {
  const b = await tlsBackend(certs.server, 'implicit');
  for (const reuse of [false, false, true, true, false]) {
    const r = await dialled(target(b.port, {}), true, ca, reuse);
    assert.ok(r.kind === 'ok' && r.socket instanceof NativeSocket);
    r.socket.destroy();
  }
  // The contexts that resume and those that do not keep no session for each other.
  assert.deepEqual(b.resumed, [false, false, false, true, false]);
});

test('proxy_started says whether the backend TLS resumed; postern with ssl_session_reuse: false never resumes', { skip }, async () => {
  const b = await tlsBackend(certs.server, 'implicit', { greeting: '* OK [CAPABILITY IMAP4rev1 ID] ready' });
  const started: TestPostern[] = [];
  cleanups.push(async () => {
    for (const p of started) await p.close();
  });
  const loginsThrough = async (reuse: boolean | undefined) => {
    const p = await startPostern({
      tls: { cert: certs.server.certPath, key: certs.server.keyPath },
      listen: [{ protocol: 'imap', address: '127.0.0.1', port: 0 }],
      login_trusted_networks: ['127.0.0.0/8'],
      auth: { passdb: [{ driver: 'static', args: `proxy=y nopassword=y host=127.0.0.1 port=${b.port} ssl=yes` }] },
      proxy: { ca_file: certs.ca.certPath, ...(reuse !== undefined ? { ssl_session_reuse: reuse } : {}) },
    });
    started.push(p);
    for (let i = 0; i < 3; i++) {
      const c = await readImap(p.port(0));
      assert.match(await c.command('a LOGIN u p'), /^a OK/m);
      c.close();
    }
    return p.logs.filter((l) => l.event === 'proxy_started').map((l) => l['tls_resumed']);
  };
  assert.deepEqual(await loginsThrough(undefined), [false, true, true], 'resumed by default');
  assert.deepEqual(await loginsThrough(false), [false, false, false]);
});

test('a dial whose TLS the relay cannot set up is closed before a byte, not used in the clear', { skip }, async () => {
  const b = await tlsBackend(certs.server, 'implicit');
  const restore = replaceNativeRelayForTest({ ...nativeAddon()!, dialStartTls: () => false });
  let r: ProxyOutcome;
  try {
    r = await dialled(target(b.port, {}), true);
  } finally {
    restore();
  }
  assert.equal(r.kind === 'failed' && r.failure.kind, 'connect');
  assert.match(r.kind === 'failed' ? r.failure.detail : '', /tls setup failed/);
  assert.deepEqual(b.servernames, [], 'no handshake');
});

test('TLS on both sides: the relay joins a client in its TLS to a backend in its TLS, 1 MiB each way, and the client\'s end closes the backend', { skip }, async () => {
  const b = await tlsBackend(certs.server, 'implicit');
  const r = await dialled(target(b.port, {}), true);
  assert.ok(r.kind === 'ok' && r.socket instanceof NativeSocket && r.socket.encrypted);
  const serverTls = createServerTls({ cert: certs.server.certPath, key: certs.server.keyPath, sni: [], min_version: 'TLSv1.2', cert_username_field: 'commonName' }, (p) => p);
  const { port, next } = await queuedListener(cleanups, { tls: 'implicit', serverTls });
  const client = tlsConnect({ port, host: '127.0.0.1', ca, servername: 'localhost' });
  client.on('error', () => {});
  cleanups.push(() => void client.destroy());
  await once(client, 'secureConnect');
  const front = (await next()).socket;
  assert.ok(front instanceof NativeSocket && front.encrypted);
  const pipe = joinSockets(front, r.socket, { relay: 'auto', idleTimeoutMs: 60_000, reply: Buffer.from('a OK\r\n') });
  assert.equal(r.socket.destroyed, true, 'the relay holds the backend connection itself: no socket pair, no Node socket');
  const backend = b.conns[0]!;
  const size = 1024 * 1024;
  let down = 0;
  const gotDown = new Promise<void>((resolve) => client.on('data', (d: Buffer) => ((down += d.length), down >= size + 6 && resolve())));
  backend.write(Buffer.alloc(size, 'd'));
  await gotDown;
  let up = 0;
  const gotUp = new Promise<void>((resolve) => backend.on('data', (d: Buffer) => ((up += d.length), up >= size && resolve())));
  // One line the backend does not answer, so that the NOOP below is a command of its own.
  client.write(Buffer.concat([Buffer.alloc(size - 2, 'u'), Buffer.from('\r\n')]));
  await gotUp;
  assert.deepEqual([down, up], [size + 6, size]);
  const noop = readUntil(client as unknown as Socket, 'x OK noop\r\n');
  client.write('x NOOP\r\n');
  await noop;
  const backendEnd = once(backend, 'end');
  client.end();
  await backendEnd;
  const end = await pipe.done;
  assert.deepEqual([end.reason, end.bytesIn, end.bytesOut], ['client disconnected', size + 8, size + 11]);
});
