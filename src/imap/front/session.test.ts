import assert from 'node:assert/strict';
import { connect as tcpConnect, createServer, type Socket } from 'node:net';
import { hostname } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { connect as tlsConnect, createSecureContext } from 'node:tls';
import { cleanupsAfterEach } from '../../../test/support/cleanups.js';
import { readImap, type ScriptedClient } from '../../../test/support/imap-client.js';
import { MemoryAuthenticator, type Authenticator, type MemoryUser } from '../../auth/index.js';
import { FrontSasl, LoginService } from '../../login/index.js';
import { connectionFromSocket } from '../../net/connection.js';
import { NetworkList, type ServerTls } from '../../net/index.js';
import { proxyConfigSchema } from '../../proxy/index.js';
import { imapConfigSchema } from '../config.js';
import { ImapLoginSession } from './session.js';
import { captureLogs, collect, deadPort, listen, makeCert, startFakeBackend, WAIT_MS, type BackendConn, type FakeBackend } from './session-harness.js';

// A real front on loopback over a MemoryAuthenticator, and a scripted fake backend: the
// session is driven byte by byte and every reply is compared whole.

const ALICE_PW = 'S3cr3t-alice';
const LOOPBACK_CAPS = 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID LITERAL+ AUTH=PLAIN AUTH=LOGIN';
const BACKEND_CAPS = 'IMAP4rev1 IDLE MOVE';
const CAP_DONE = 'Pre-login capabilities listed, post-login capabilities have more.';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

/** Backend replies to `L LOGIN <user> <pass>`. */
const BACKEND_LOGIN: Record<string, string> = {
  [`alice ${ALICE_PW}`]: `L OK [CAPABILITY ${BACKEND_CAPS}] Logged in\r\n`,
  'carol carol-pw': 'L NO [AUTHENTICATIONFAILED] No such user carol here\r\n',
  'dave dave-pw': 'L NO [UNAVAILABLE] Backend in maintenance\r\n',
  // An alert for the client, a BYE it must not see, and data after the OK in the same packet.
  'frank frank-pw': `* BYE not for the client\r\n* OK [ALERT] Password expires in 3 days\r\nL OK [CAPABILITY ${BACKEND_CAPS}] Logged in\r\n* 1 RECENT\r\n`,
};

const logs = captureLogs();
let backend: FakeBackend;
let serverTls: ServerTls;
let caPem: Buffer;
let authenticator: Authenticator;

before(async () => {
  backend = await startFakeBackend('IMAP4rev1 SASL-IR ID LITERAL+ AUTH=PLAIN', BACKEND_LOGIN);
  const { cert, key } = makeCert();
  caPem = cert;
  serverTls = { options: { cert, key }, socketOptions: { secureContext: createSecureContext({ cert, key }) }, nativeContext: () => undefined };
  const proxied = (port: number) => ({ proxy: 'y', host: '127.0.0.1', port: String(port) });
  const users: Record<string, MemoryUser> = {
    alice: { password: ALICE_PW, fields: proxied(backend.port) },
    carol: { password: 'carol-pw', fields: proxied(backend.port) },
    dave: { password: 'dave-pw', fields: proxied(backend.port) },
    erin: { password: 'erin-pw', fields: proxied(await deadPort()) },
    frank: { password: 'frank-pw', fields: proxied(backend.port) },
    bob: { password: 'bob-pw' },
    suspended: { password: 'x', fields: { nologin: 'y', reason: 'Account suspended' } },
    disabled: { password: 'x', fields: { nologin: 'y' } },
    moved: { password: 'x', fields: { host: 'new.example.org' } },
    gone: { password: 'x', fields: { host: 'new.example.org', port: '1143', nologin: 'y', reason: 'Moved for good' } },
  };
  const memory = new MemoryAuthenticator(users);
  authenticator = {
    authenticate: (req) => (req.user === 'tempfail' ? Promise.resolve({ kind: 'tempFail', reason: 'database down' }) : memory.authenticate(req)),
    close: () => memory.close(),
  };
});
after(() => backend.close());

// Fronts and clients a test opened, closed after it.
const cleanups = cleanupsAfterEach();

interface FrontOptions {
  imap?: Record<string, unknown>;
  tls?: boolean;
  /** Pretend the client comes from here (not loopback: plaintext rules apply). */
  remoteIp?: string;
  trusted?: string[];
}

async function startFront(o: FrontOptions = {}): Promise<number> {
  const sessions = new Set<ImapLoginSession>();
  const sockets = new Set<Socket>();
  const login = new LoginService({ authenticator, proxy: proxyConfigSchema.parse({ max_reconnects: 0, timeout: '2s' }), failureDelayMs: 0, isSelf: () => false, sleep: async () => {} });
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const conn = connectionFromSocket(socket, 'test', o.tls ? serverTls : undefined);
    if (o.remoteIp) conn.remoteIp = o.remoteIp;
    const plaintext = { disablePlaintextAuth: true, trustedNetworks: new NetworkList(o.trusted ?? []) };
    const deps = { imap: imapConfigSchema.parse(o.imap ?? {}), ...plaintext, sasl: new FrontSasl(['PLAIN', 'LOGIN'], plaintext), login, idleTimeoutMs: 60_000, proxyTtl: 7, log: logs.log };
    const session: ImapLoginSession = new ImapLoginSession(conn, deps, () => sessions.delete(session));
    sessions.add(session);
    session.start();
  });
  const port = await listen(server);
  cleanups.push(async () => {
    for (const s of sessions) s.destroy('shutdown');
    for (const s of sockets) s.destroy();
    await new Promise((r) => server.close(r));
  });
  return port;
}

async function client(port: number): Promise<ScriptedClient> {
  const c = await readImap(port);
  cleanups.push(() => c.close());
  return c;
}
const tagged = (tag: string) => new RegExp(`^${tag} (OK|NO|BAD)[^\\r\\n]*\\r\\n`, 'm');
const BYE = /^\* BYE [^\r\n]*\r\n/m;

describe('ImapLoginSession: greeting and simple commands', () => {
  it('greets a loopback client with AUTH= and no STARTTLS when no TLS is configured', async () => {
    const c = await client(await startFront());
    assert.equal(c.greeting, `* OK [CAPABILITY ${LOOPBACK_CAPS}] postern ready.\r\n`);
  });

  it('offers STARTTLS when TLS is configured', async () => {
    const c = await client(await startFront({ tls: true }));
    assert.equal(c.greeting, '* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID LITERAL+ STARTTLS AUTH=PLAIN AUTH=LOGIN] postern ready.\r\n');
  });

  it('says LOGINDISABLED and no AUTH= to a plain non-loopback client', async () => {
    const c = await client(await startFront({ tls: true, remoteIp: '192.0.2.10' }));
    assert.equal(c.greeting, '* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID LITERAL+ STARTTLS LOGINDISABLED] postern ready.\r\n');
  });

  const cases: Array<[string, string]> = [
    ['a CAPABILITY', `* CAPABILITY ${LOOPBACK_CAPS}\r\na OK ${CAP_DONE}\r\n`],
    ['a NOOP', 'a OK NOOP completed.\r\n'],
    ['a ID NIL', '* ID ("name" "postern")\r\na OK ID completed.\r\n'],
    ['a ID ("name" "test client" "version" NIL)', '* ID ("name" "postern")\r\na OK ID completed.\r\n'],
    ['a ID ("name")', 'a BAD Error in IMAP command ID: Invalid arguments.\r\n'],
    ['a FROBNICATE', 'a BAD Error in IMAP command received by server.\r\n'],
    ['a SELECT INBOX', 'a BAD Error in IMAP command received by server.\r\n'],
    ['a NOOP now', 'a BAD Error in IMAP command: Unexpected arguments.\r\n'],
    ['a STARTTLS', "a BAD TLS support isn't enabled.\r\n"],
    ['a LOGIN alice', 'a BAD Error in IMAP command LOGIN: Invalid arguments.\r\n'],
    ['a AUTHENTICATE CRAM-MD5', 'a NO Unsupported authentication mechanism.\r\n'],
  ];
  for (const [command, reply] of cases) {
    it(command, async () => {
      const c = await client(await startFront());
      assert.equal(await c.command(command, undefined, WAIT_MS), reply);
    });
  }

  it('LOGOUT says BYE, OK, and closes', async () => {
    const c = await client(await startFront());
    assert.equal(await c.command('a LOGOUT', undefined, WAIT_MS), '* BYE Logging out\r\na OK Logout completed.\r\n');
    assert.equal(await c.closed(WAIT_MS), '');
  });
});

describe('ImapLoginSession: limits', () => {
  it('max_bad_commands: the last bad command gets BAD, then BYE and close', async () => {
    const c = await client(await startFront({ imap: { max_bad_commands: 3 } }));
    assert.equal(await c.command('x1 FROB', undefined, WAIT_MS), 'x1 BAD Error in IMAP command received by server.\r\n');
    assert.equal(await c.command('x2 NOOP x', undefined, WAIT_MS), 'x2 BAD Error in IMAP command: Unexpected arguments.\r\n');
    assert.equal(await c.command('x3 FROB', BYE, WAIT_MS), 'x3 BAD Error in IMAP command received by server.\r\n* BYE Too many invalid IMAP commands.\r\n');
    assert.equal(await c.closed(WAIT_MS), '');
  });

  it('a line over max_line_length gets BAD and the session goes on', async () => {
    const c = await client(await startFront({ imap: { max_line_length: 1024 } }));
    assert.equal(await c.command(`a NOOP ${'x'.repeat(3000)}`, undefined, WAIT_MS), 'a BAD IMAP command line too large\r\n');
    assert.equal(await c.command('b NOOP', undefined, WAIT_MS), 'b OK NOOP completed.\r\n');
  });

  it('a synchronizing literal over max_literal_size gets BAD and no "+"', async () => {
    const c = await client(await startFront({ imap: { max_literal_size: 100 } }));
    assert.equal(await c.command('a LOGIN {200}', undefined, WAIT_MS), 'a BAD Literal size too large\r\n');
    assert.equal(await c.command('b NOOP', undefined, WAIT_MS), 'b OK NOOP completed.\r\n');
  });

  it('a LITERAL+ over max_literal_size: BYE and close', async () => {
    const c = await client(await startFront({ imap: { max_literal_size: 100 } }));
    assert.equal(await c.command('a LOGIN {200+}', BYE, WAIT_MS), '* BYE Literal size too large\r\n');
    assert.equal(await c.closed(WAIT_MS), '');
  });

  it('login_timeout: BYE for inactivity and close', async () => {
    const c = await client(await startFront({ imap: { login_timeout: '100ms' } }));
    assert.equal(await c.closed(WAIT_MS), '* BYE Disconnected for inactivity.\r\n');
  });
});

describe('ImapLoginSession: plaintext rules and STARTTLS', () => {
  const PRIVACY = 'NO [PRIVACYREQUIRED] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.';
  it('refuses LOGIN and AUTHENTICATE PLAIN from a non-loopback client before TLS', async () => {
    const c = await client(await startFront({ tls: true, remoteIp: '192.0.2.10' }));
    assert.equal(await c.command(`a LOGIN alice ${ALICE_PW}`, undefined, WAIT_MS), `a ${PRIVACY}\r\n`);
    assert.equal(await c.command(`b AUTHENTICATE PLAIN ${b64(`\0alice\0${ALICE_PW}`)}`, undefined, WAIT_MS), `b ${PRIVACY}\r\n`);
    assert.equal(await c.command('c AUTHENTICATE LOGIN', undefined, WAIT_MS), `c ${PRIVACY}\r\n`);
  });

  it('STARTTLS drops what was pipelined after it, then allows plaintext logins', async () => {
    const port = await startFront({ tls: true, remoteIp: '192.0.2.10' });
    const plain = tcpConnect({ host: '127.0.0.1', port });
    cleanups.push(() => void plain.destroy());
    const r = collect(plain);
    await r.until(/^\* OK [^\r\n]*\r\n/);
    // Classic STARTTLS injection: commands sent in the clear in the same packet must not run after TLS.
    plain.write('a STARTTLS\r\nb CAPABILITY\r\nc LOGIN bob bob-pw\r\n');
    assert.equal(await r.until(/^a [^\r\n]*\r\n/m), 'a OK Begin TLS negotiation now.\r\n');
    r.stop();
    assert.equal(r.rest(), '');
    const secure = tlsConnect({ socket: plain, ca: caPem, servername: 'localhost' });
    cleanups.push(() => void secure.destroy());
    await new Promise<void>((resolve, reject) => {
      secure.once('secureConnect', resolve);
      secure.once('error', reject);
    });
    const s = collect(secure);
    secure.write('d CAPABILITY\r\n');
    assert.equal(await s.until(/^d [^\r\n]*\r\n/m), `* CAPABILITY ${LOOPBACK_CAPS}\r\nd OK ${CAP_DONE}\r\n`);
    secure.write('e STARTTLS\r\n');
    assert.equal(await s.until(/^e [^\r\n]*\r\n/m), 'e BAD TLS is already active.\r\n');
    secure.write('f LOGIN bob bob-pw\r\n');
    assert.equal(await s.until(/^f [^\r\n]*\r\n/m), 'f NO [UNAVAILABLE] Account is temporarily unavailable.\r\n');
  });
});

describe('ImapLoginSession: authentication', () => {
  const LOCAL = 'NO [UNAVAILABLE] Account is temporarily unavailable.';
  const FAILED = 'NO [AUTHENTICATIONFAILED] Authentication failed.';

  const cases: Array<[string, Array<[string, string]>]> = [
    ['LOGIN, right password, user not proxied', [['a LOGIN bob bob-pw', `a ${LOCAL}\r\n`]]],
    ['LOGIN, wrong password', [['a LOGIN bob nope', `a ${FAILED}\r\n`]]],
    ['LOGIN, unknown user', [['a LOGIN nobody pw', `a ${FAILED}\r\n`]]],
    ['AUTHENTICATE PLAIN with SASL-IR', [[`a AUTHENTICATE PLAIN ${b64('\0bob\0bob-pw')}`, `a ${LOCAL}\r\n`]]],
    ['AUTHENTICATE PLAIN with a wrong password', [[`a AUTHENTICATE PLAIN ${b64('\0bob\0nope')}`, `a ${FAILED}\r\n`]]],
    ['AUTHENTICATE PLAIN, response after an empty "+ "', [['a AUTHENTICATE PLAIN', '+ \r\n'], [b64('\0bob\0bob-pw'), `a ${LOCAL}\r\n`]]],
    ['AUTHENTICATE PLAIN = (empty initial response)', [['a AUTHENTICATE PLAIN =', `a ${FAILED}\r\n`]]],
    ['AUTHENTICATE cancelled with "*"', [['a AUTHENTICATE PLAIN', '+ \r\n'], ['*', 'a BAD Authentication aborted by client.\r\n'], ['b NOOP', 'b OK NOOP completed.\r\n']]],
    ['AUTHENTICATE with bad base64', [['a AUTHENTICATE PLAIN', '+ \r\n'], ['!!!!', 'a BAD Invalid base64 data in continued response\r\n']]],
    ['AUTHENTICATE with a bad base64 initial response', [['a AUTHENTICATE PLAIN AB=C', 'a BAD Invalid base64 data in continued response\r\n']]],
    ['AUTHENTICATE LOGIN', [['a AUTHENTICATE LOGIN', '+ VXNlcm5hbWU6\r\n'], [b64('bob'), '+ UGFzc3dvcmQ6\r\n'], [b64('bob-pw'), `a ${LOCAL}\r\n`]]],
    ['nologin with reason', [['a LOGIN suspended x', 'a NO [CONTACTADMIN] Account suspended\r\n']]],
    ['nologin without reason', [['a LOGIN disabled x', 'a NO [CONTACTADMIN] Login disabled for this user\r\n']]],
    ['referral with nologin: NO, the session goes on', [['a LOGIN gone x', 'a NO [REFERRAL imap://gone;AUTH=*@new.example.org:1143/] Moved for good\r\n'], ['b NOOP', 'b OK NOOP completed.\r\n']]],
  ];
  for (const [title, exchange] of cases) {
    it(title, async () => {
      const c = await client(await startFront());
      for (const [send, reply] of exchange) {
        const until = reply.startsWith('+') ? /^\+ [^\r\n]*\r\n/m : tagged(reply.split(' ')[0]!);
        assert.equal(await c.command(send, until, WAIT_MS), reply, `reply to ${send}`);
      }
    });
  }

  it('referral without nologin: OK [REFERRAL] and close', async () => {
    const c = await client(await startFront());
    assert.equal(await c.command('a LOGIN moved x', undefined, WAIT_MS), 'a OK [REFERRAL imap://moved;AUTH=*@new.example.org/] Logged in, but you should use this server instead.\r\n');
    assert.equal(await c.closed(WAIT_MS), '');
  });

  it('auth tempfail: NO [UNAVAILABLE] with host and time', async () => {
    const c = await client(await startFront());
    const reply = await c.command('a LOGIN tempfail x', undefined, WAIT_MS);
    const host = hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    assert.match(reply, new RegExp(`^a NO \\[UNAVAILABLE\\] Temporary authentication failure\\. \\[${host}:\\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d\\]\\r\\n$`));
  });

  it('max_auth_failures: BYE after the last failure', async () => {
    const c = await client(await startFront({ imap: { max_auth_failures: 2 } }));
    assert.equal(await c.command('a LOGIN bob x', undefined, WAIT_MS), `a ${FAILED}\r\n`);
    assert.equal(await c.command(`b AUTHENTICATE PLAIN ${b64('\0bob\0y')}`, BYE, WAIT_MS), `b ${FAILED}\r\n* BYE Too many authentication failures.\r\n`);
    assert.equal(await c.closed(WAIT_MS), '');
  });
});

describe('ImapLoginSession: proxying to a backend', () => {
  const LOGGED_IN = `OK [CAPABILITY ${BACKEND_CAPS}] Logged in\r\n`;
  const lastBackend = () => backend.conns[backend.conns.length - 1]!;
  const sessionOf = (b: BackendConn) => /"x-session-id" "([^"]+)"/.exec(b.received)?.[1];

  it('logs in at the backend, then relays bytes both ways unchanged; logs the session end', async () => {
    const port = await startFront();
    const c = await client(port);
    assert.equal(await c.command(`a LOGIN alice ${ALICE_PW}`, undefined, WAIT_MS), `a ${LOGGED_IN}`);
    const b = lastBackend();
    const id = `I ID \\("x-session-id" "[A-Za-z0-9+/]{16}" "x-originating-ip" "127.0.0.1" "x-originating-port" "${c.socket.localPort}" "x-connected-ip" "127.0.0.1" "x-connected-port" "${port}" "x-proxy-ttl" "6"\\)\\r\\n`;
    assert.match(b.received, new RegExp(`^${id}L LOGIN alice ${ALICE_PW}\\r\\n$`));
    assert.equal(await c.command('b SELECT "INBOX" (CONDSTORE)', undefined, WAIT_MS), 'b OK SELECT done\r\n');
    assert.equal(b.received.slice(b.loginEnd), 'b SELECT "INBOX" (CONDSTORE)\r\n');
    b.socket.write('* 3 EXISTS\r\n');
    assert.equal(await c.send('', /^\* 3 EXISTS\r\n/m, WAIT_MS), '* 3 EXISTS\r\n');
    c.close();
    const end = await logs.waitFor((r) => r['event'] === 'session_end' && r['session'] === sessionOf(b));
    assert.deepStrictEqual(
      { user: end['user'], backend: end['backend'], bytes_in: end['bytes_in'], bytes_out: end['bytes_out'], reason: end['reason'] },
      { user: 'alice', backend: `127.0.0.1:${backend.port}`, bytes_in: 'b SELECT "INBOX" (CONDSTORE)\r\n'.length, bytes_out: 'b OK SELECT done\r\n* 3 EXISTS\r\n'.length, reason: 'client disconnected' },
    );
  });

  it('commands pipelined after LOGIN reach the backend in order', async () => {
    const c = await client(await startFront());
    const got = await c.send(`a LOGIN alice ${ALICE_PW}\r\nb NOOP\r\nc SELECT INBOX\r\n`, tagged('c'), WAIT_MS);
    assert.equal(got, `a ${LOGGED_IN}b OK NOOP done\r\nc OK SELECT done\r\n`);
    const b = lastBackend();
    assert.equal(b.received.slice(b.loginEnd), 'b NOOP\r\nc SELECT INBOX\r\n');
    c.close();
    const end = await logs.waitFor((r) => r['event'] === 'session_end' && r['session'] === sessionOf(b));
    assert.deepStrictEqual([end['bytes_in'], end['bytes_out']], ['b NOOP\r\nc SELECT INBOX\r\n'.length, 'b OK NOOP done\r\nc OK SELECT done\r\n'.length]);
  });

  it('passes backend alerts on, hides its BYE, and relays what followed the OK', async () => {
    const c = await client(await startFront());
    assert.equal(await c.command('a LOGIN frank frank-pw', undefined, WAIT_MS), `* OK [ALERT] Password expires in 3 days\r\na ${LOGGED_IN}`);
    assert.equal(await c.send('', /^\* 1 RECENT\r\n/m, WAIT_MS), '* 1 RECENT\r\n');
  });

  const forwarding: Array<[string, string[], string, string]> = [
    ['a trusted proxy in front: its client identity and TTL go on', ['127.0.0.1'], '"x-originating-ip" "203.0.113.5" "x-originating-port" "4242"', '"x-proxy-ttl" "2"'],
    ['an untrusted client: its ID fields are ignored', [], '"x-originating-ip" "127.0.0.1" "x-originating-port" "CLIENTPORT"', '"x-proxy-ttl" "6"'],
  ];
  for (const [title, trusted, origin, ttl] of forwarding) {
    it(title, async () => {
      const c = await client(await startFront({ trusted }));
      await c.command('a ID ("x-originating-ip" "203.0.113.5" "x-originating-port" "4242" "x-proxy-ttl" "3")', undefined, WAIT_MS);
      assert.equal(await c.command(`b LOGIN alice ${ALICE_PW}`, undefined, WAIT_MS), `b ${LOGGED_IN}`);
      const id = lastBackend().received.split('\r\n')[0]!;
      assert.ok(id.includes(origin.replace('CLIENTPORT', String(c.socket.localPort))), id);
      assert.ok(id.endsWith(`${ttl})`), id);
    });
  }

  it('a client arriving with x-proxy-ttl 1 is refused as a loop', async () => {
    const c = await client(await startFront({ trusted: ['127.0.0.1'] }));
    await c.command('a ID ("x-proxy-ttl" "1")', undefined, WAIT_MS);
    const before = backend.conns.length;
    assert.equal(await c.command(`b LOGIN alice ${ALICE_PW}`, undefined, WAIT_MS), 'b NO [SERVERBUG] Account is temporarily unavailable.\r\n');
    assert.equal(backend.conns.length, before);
  });

  it('LOGIN with synchronizing literals', async () => {
    const c = await client(await startFront());
    assert.equal(await c.send('a LOGIN {5}\r\n', /^\+ [^\r\n]*\r\n/m, WAIT_MS), '+ OK\r\n');
    assert.equal(await c.send(`alice {${ALICE_PW.length}}\r\n`, /^\+ [^\r\n]*\r\n/m, WAIT_MS), '+ OK\r\n');
    assert.equal(await c.send(`${ALICE_PW}\r\n`, tagged('a'), WAIT_MS), `a ${LOGGED_IN}`);
  });

  it('LOGIN with LITERAL+', async () => {
    const c = await client(await startFront());
    assert.equal(await c.send(`a LOGIN {5+}\r\nalice {${ALICE_PW.length}+}\r\n${ALICE_PW}\r\n`, tagged('a'), WAIT_MS), `a ${LOGGED_IN}`);
  });

  it('AUTHENTICATE PLAIN is proxied as LOGIN', async () => {
    const c = await client(await startFront());
    assert.equal(await c.command(`a AUTHENTICATE PLAIN ${b64(`\0alice\0${ALICE_PW}`)}`, undefined, WAIT_MS), `a ${LOGGED_IN}`);
    assert.match(lastBackend().received, new RegExp(`L LOGIN alice ${ALICE_PW}\\r\\n$`));
  });

  it('CAPABILITY before login: * CAPABILITY from the backend, then a plain OK', async () => {
    const c = await client(await startFront());
    await c.command('a CAPABILITY', undefined, WAIT_MS);
    assert.equal(await c.command(`b LOGIN alice ${ALICE_PW}`, undefined, WAIT_MS), `* CAPABILITY ${BACKEND_CAPS}\r\nb OK Logged in\r\n`);
  });

  const failures: Array<[string, string]> = [
    ['carol carol-pw', 'NO [AUTHENTICATIONFAILED] Authentication failed.'],
    ['dave dave-pw', 'NO [UNAVAILABLE] Backend in maintenance'],
    ['erin erin-pw', 'NO [UNAVAILABLE] Account is temporarily unavailable.'],
  ];
  for (const [login, reply] of failures) {
    it(`backend failure for ${login.split(' ')[0]}: ${reply}`, async () => {
      const c = await client(await startFront());
      assert.equal(await c.command(`a LOGIN ${login}`, undefined, WAIT_MS), `a ${reply}\r\n`);
      assert.equal(await c.command('b NOOP', undefined, WAIT_MS), 'b OK NOOP completed.\r\n');
    });
  }
});

describe('ImapLoginSession: logs', () => {
  it('no password, plain or base64, appears in any log line', () => {
    assert.ok(logs.records.some((r) => r['event'] === 'session_end' && r['user'] === 'alice'));
    for (const secret of [ALICE_PW, 'bob-pw', 'carol-pw', 'dave-pw', 'erin-pw', b64(`\0alice\0${ALICE_PW}`), b64('\0bob\0bob-pw'), b64('bob-pw')]) {
      assert.ok(!logs.raw().includes(secret), `${secret} found in the log`);
    }
  });
});
