import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createServer as createTlsServer } from 'node:tls';
import { cleanupsAfterEach } from '../../../test/support/cleanups.js';
import { getTestCerts, type ServerCert, type TestCerts } from '../../../test/interop/harness/index.js';
import { readImap, type ScriptedClient } from '../../../test/support/imap-client.js';
import type { Authenticator } from '../../auth/index.js';
import { cramMd5Response, saslTestAuthenticator, scramClient } from '../../auth/sasl/test-clients.js';
import { FrontSasl, LoginService } from '../../login/index.js';
import { connectionFromSocket } from '../../net/connection.js';
import { createServerTls, NetworkList, type Connection } from '../../net/index.js';
import { proxyConfigSchema } from '../../proxy/index.js';
import { imapConfigSchema } from '../config.js';
import { ImapLoginSession } from './session.js';
import { captureLogs, listen, startFakeBackend, WAIT_MS, type FakeBackend } from './session-harness.js';

// AUTHENTICATE with every mechanism, master users and EXTERNAL, over the real chain and a
// scripted backend: the exchanges a client sees, byte for byte.

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const A = '\x01';
const LOCAL = 'NO [UNAVAILABLE] Account is temporarily unavailable.';
const FAILED = 'NO [AUTHENTICATIONFAILED] Authentication failed.';
const AUTHZ = 'NO [AUTHORIZATIONFAILED] Authorization failed';
const BACKEND_CAPS = 'IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN AUTH=XOAUTH2';
const LOGGED_IN = 'OK [CAPABILITY IMAP4rev1 MOVE] Logged in';
const XOAUTH2_IR = b64(`user=carol${A}auth=Bearer ya29.carol${A}${A}`);
const MECHS = ['PLAIN', 'LOGIN', 'CRAM-MD5', 'SCRAM-SHA-256', 'XOAUTH2', 'EXTERNAL'];

const logs = captureLogs();
let backend: FakeBackend;
let auth: Authenticator;
let certs: TestCerts;
let bobCert: ServerCert;

before(async () => {
  backend = await startFakeBackend(BACKEND_CAPS, {
    // The fake answers `L <cmd> <rest>` by <rest>.
    [`XOAUTH2 ${XOAUTH2_IR}`]: `L ${LOGGED_IN}\r\n`,
    [`PLAIN ${b64('alice\0admin\0admin-pw')}`]: `L ${LOGGED_IN}\r\n`,
  });
  auth = saslTestAuthenticator(backend.port);
  certs = await getTestCerts();
  bobCert = await certs.issue(['bob']);
});
after(() => backend.close());

const cleanups = cleanupsAfterEach();

/** A front on loopback; `remoteIp` pretends the client is elsewhere; `tls` serves implicit TLS asking for client certificates. */
async function startFront(o: { remoteIp?: string; tls?: boolean } = {}): Promise<number> {
  const login = new LoginService({ authenticator: auth, proxy: proxyConfigSchema.parse({ max_reconnects: 0, timeout: '2s' }), failureDelayMs: 0, isSelf: () => false });
  const serverTls = o.tls ? createServerTls({ cert: certs.server.certPath, key: certs.server.keyPath, client_ca: certs.ca.certPath, cert_username_field: 'commonName', sni: [], min_version: 'TLSv1.2' }, (p) => p) : undefined;
  const sessions = new Set<ImapLoginSession>();
  const sockets = new Set<Socket>();
  const onSocket = (socket: Socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const conn: Connection = connectionFromSocket(socket, 'test', serverTls);
    if (o.remoteIp) conn.remoteIp = o.remoteIp;
    const plaintext = { disablePlaintextAuth: true, trustedNetworks: new NetworkList([]) };
    const deps = { imap: imapConfigSchema.parse({}), ...plaintext, sasl: new FrontSasl(MECHS, plaintext), login, idleTimeoutMs: 60_000, proxyTtl: 7, log: logs.log };
    const s: ImapLoginSession = new ImapLoginSession(conn, deps, () => sessions.delete(s));
    sessions.add(s);
    s.start();
  };
  const server: Server = serverTls ? createTlsServer(serverTls.options, onSocket) : createServer(onSocket);
  const port = await listen(server);
  cleanups.push(async () => {
    for (const s of sessions) s.destroy('shutdown');
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return port;
}

async function client(port: number, tls?: { cert?: ServerCert }): Promise<ScriptedClient> {
  const c = await readImap(port, tls ? { host: 'localhost', tls: { ca: certs.ca.cert, ...(tls.cert ? { cert: tls.cert.cert, key: tls.cert.key } : {}) } } : {});
  cleanups.push(() => c.close());
  return c;
}
const CONT = /^\+ [^\r\n]*\r\n/m;
const cont = (reply: string) => Buffer.from(reply.slice(2).trim(), 'base64');

describe('IMAP AUTHENTICATE: advertising', () => {
  it('loopback: every offered mechanism but EXTERNAL (no client certificate)', async () => {
    const c = await client(await startFront());
    assert.match(c.greeting, / AUTH=PLAIN AUTH=LOGIN AUTH=CRAM-MD5 AUTH=SCRAM-SHA-256 AUTH=XOAUTH2\] /);
  });
  it('from afar before TLS: only mechanisms that send no reusable secret', async () => {
    const c = await client(await startFront({ remoteIp: '192.0.2.99' }));
    assert.match(c.greeting, / LOGINDISABLED AUTH=CRAM-MD5 AUTH=SCRAM-SHA-256\] /);
    assert.equal(await c.command(`a AUTHENTICATE XOAUTH2 ${XOAUTH2_IR}`, undefined, WAIT_MS), 'a NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.\r\n');
  });
});

describe('IMAP AUTHENTICATE: CRAM-MD5 and SCRAM', () => {
  it('CRAM-MD5 from afar before TLS, right and wrong', async () => {
    const c = await client(await startFront({ remoteIp: '192.0.2.99' }));
    let ch = await c.command('a AUTHENTICATE CRAM-MD5', CONT, WAIT_MS);
    assert.match(cont(ch).toString(), /^<\d+\.\d+@.+>$/);
    assert.equal(await c.command(b64(cramMd5Response('bob', 'bob-pw', cont(ch))), /^a /m, WAIT_MS), `a ${LOCAL}\r\n`);
    ch = await c.command('b AUTHENTICATE CRAM-MD5', CONT, WAIT_MS);
    assert.equal(await c.command(b64(cramMd5Response('bob', 'nope', cont(ch))), /^b /m, WAIT_MS), `b ${FAILED}\r\n`);
  });

  it('SCRAM-SHA-256: the server proof is owed as one more "+", then the tagged reply', async () => {
    const c = await client(await startFront());
    const s = scramClient('sha256', 'bob', 'bob-pw', 'imapnonce');
    const first = await c.command(`a AUTHENTICATE SCRAM-SHA-256 ${b64(s.first())}`, CONT, WAIT_MS);
    const final = await c.command(b64(s.final(cont(first))), CONT, WAIT_MS);
    assert.equal(cont(final).toString(), s.expectedVerifier());
    assert.equal(await c.command('', /^a /m, WAIT_MS), `a ${LOCAL}\r\n`);
  });

  it('SCRAM: cancelling after the server proof aborts; a wrong password fails at the end', async () => {
    const c = await client(await startFront());
    let s = scramClient('sha256', 'bob', 'bob-pw', 'n1');
    let first = await c.command(`a AUTHENTICATE SCRAM-SHA-256 ${b64(s.first())}`, CONT, WAIT_MS);
    await c.command(b64(s.final(cont(first))), CONT, WAIT_MS);
    assert.equal(await c.command('*', /^a /m, WAIT_MS), 'a BAD Authentication aborted by client.\r\n');
    s = scramClient('sha256', 'bob', 'wrong', 'n2');
    first = await c.command(`b AUTHENTICATE SCRAM-SHA-256 ${b64(s.first())}`, CONT, WAIT_MS);
    assert.equal(await c.command(b64(s.final(cont(first))), /^b /m, WAIT_MS), `b ${FAILED}\r\n`);
  });
});

describe('IMAP AUTHENTICATE: OAuth', () => {
  it('XOAUTH2 through a proxy_mech=xoauth2 passdb: the backend gets AUTHENTICATE XOAUTH2 with the token', async () => {
    const c = await client(await startFront());
    assert.equal(await c.command(`a AUTHENTICATE XOAUTH2 ${XOAUTH2_IR}`, undefined, WAIT_MS), `a ${LOGGED_IN}\r\n`);
    assert.ok(backend.conns.at(-1)!.received.includes(`L AUTHENTICATE XOAUTH2 ${XOAUTH2_IR}\r\n`));
  });

  it('a refused token: the JSON error as "+", the client answers, then NO', async () => {
    const c = await client(await startFront());
    const ch = await c.command(`a AUTHENTICATE XOAUTH2 ${b64(`user=bob${A}auth=Bearer not-bobs-password${A}${A}`)}`, CONT, WAIT_MS);
    assert.deepEqual(JSON.parse(cont(ch).toString()), { status: '401', schemes: 'bearer', scope: 'mail' });
    assert.equal(await c.command('', /^a /m, WAIT_MS), `a ${FAILED}\r\n`);
  });

  it('a malformed message: invalid_request JSON, then NO', async () => {
    const c = await client(await startFront());
    const ch = await c.command(`a AUTHENTICATE XOAUTH2 ${b64('garbage')}`, CONT, WAIT_MS);
    assert.equal(JSON.parse(cont(ch).toString()).status, '400');
    assert.equal(await c.command('*', /^a /m, WAIT_MS), `a ${FAILED}\r\n`);
  });
});

describe('IMAP master users', () => {
  it('LOGIN alice*admin: the master password, proxied as AUTHENTICATE PLAIN alice\\0admin', async () => {
    const c = await client(await startFront());
    assert.equal(await c.command('a LOGIN alice*admin admin-pw', undefined, WAIT_MS), `a ${LOGGED_IN}\r\n`);
  });

  it('AUTHENTICATE PLAIN with authzid alice, authcid admin', async () => {
    const c = await client(await startFront());
    assert.equal(await c.command(`a AUTHENTICATE PLAIN ${b64('alice\0admin\0admin-pw')}`, undefined, WAIT_MS), `a ${LOGGED_IN}\r\n`);
  });

  it('a master naming an unknown user: AUTHORIZATIONFAILED; a wrong master password: AUTHENTICATIONFAILED', async () => {
    const port = await startFront();
    let c = await client(port);
    assert.equal(await c.command('a LOGIN ghost*admin admin-pw', undefined, WAIT_MS), `a ${AUTHZ}\r\n`);
    assert.equal(await c.command(`b AUTHENTICATE PLAIN ${b64('ghost\0admin\0admin-pw')}`, undefined, WAIT_MS), `b ${AUTHZ}\r\n`);
    c = await client(port);
    assert.equal(await c.command('c LOGIN alice*admin alice-pw', undefined, WAIT_MS), `c ${FAILED}\r\n`);
    assert.equal(await c.command(`d AUTHENTICATE PLAIN ${b64('alice\0bob\0bob-pw')}`, undefined, WAIT_MS), `d ${FAILED}\r\n`, 'bob is no master');
  });
});

describe('IMAP AUTHENTICATE EXTERNAL', () => {
  it('a verified client certificate: AUTH=EXTERNAL offered, the CN logs in', async () => {
    const c = await client(await startFront({ tls: true }), { cert: bobCert });
    assert.match(c.greeting, / AUTH=EXTERNAL\] /);
    assert.equal(await c.command('a AUTHENTICATE EXTERNAL =', undefined, WAIT_MS), `a ${LOCAL}\r\n`);
  });

  it('no certificate, or one the CA did not sign: no EXTERNAL', async () => {
    for (const cert of [undefined, certs.selfSigned]) {
      const c = await client(await startFront({ tls: true }), cert ? { cert } : {});
      assert.doesNotMatch(c.greeting, /AUTH=EXTERNAL/);
      assert.equal(await c.command('a AUTHENTICATE EXTERNAL =', undefined, WAIT_MS), `a ${FAILED}\r\n`);
    }
  });
});
