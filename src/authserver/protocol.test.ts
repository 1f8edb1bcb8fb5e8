// The auth service over real sockets (loopback TCP and a unix socket), with the in-memory
// passdb chain: every handshake line, the SASL exchanges Postfix and Exim drive, several
// requests on one connection, failures and their delay.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { AuthPolicy, MemoryAuthenticator, type AuthRequest, type AuthResult, type Authenticator } from '../auth/index.js';
import { NetworkList } from '../net/index.js';
import { startHarness, type Harness } from './test-harness.js';

const T = '\t';
const findPython = () => {
  try {
    execFileSync('python3', ['-c', '']);
    return true;
  } catch {
    return false;
  }
};
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const plain = (user: string, pw: string, authz = '') => b64(`${authz}\0${user}\0${pw}`);

const USERS = {
  alice: { password: 'alice-pw' },
  'tab\tuser': { password: 'tab-pw' },
  quick: { password: '{PLAIN}quick-pw' },
  renamed: { password: 'pw', fields: { user: 'Renamed@Example.org' } },
};

/** An authenticator that records requests and can be held back, answering from a MemoryAuthenticator. */
class Recording implements Authenticator {
  readonly seen: AuthRequest[] = [];
  readonly #inner = new MemoryAuthenticator(USERS);
  #gates = new Map<string, Promise<void>>();
  hold(user: string): () => void {
    let open!: () => void;
    this.#gates.set(user, new Promise<void>((r) => (open = r)));
    return open;
  }
  async authenticate(req: AuthRequest): Promise<AuthResult> {
    this.seen.push(req);
    await this.#gates.get(req.user);
    if (req.user === 'dbdown') return { kind: 'tempFail', reason: 'database unreachable' };
    if (req.user === 'hasty') return { kind: 'fail', reason: 'passwordMismatch', fields: { nodelay: 'y' } };
    return this.#inner.authenticate(req);
  }
  close = async () => {};
}

describe('auth service: handshake', () => {
  let h: Harness;
  before(async () => (h = await startHarness(new Recording())));
  after(() => h.close());

  it('sends the whole server handshake at once, before the client writes anything', async () => {
    const c = await h.connect();
    const lines = await c.handshake();
    assert.equal(lines.length, 7);
    assert.equal(lines[0], `VERSION${T}1${T}2`);
    assert.equal(lines[1], `MECH${T}PLAIN${T}plaintext`);
    assert.equal(lines[2], `MECH${T}LOGIN${T}plaintext`);
    assert.equal(lines[3], `SPID${T}${process.pid}`);
    assert.match(lines[4]!, /^CUID\t\d+$/);
    assert.match(lines[5]!, /^COOKIE\t[0-9a-f]{32}$/);
    assert.equal(lines[6], 'DONE');
    assert.equal(c.chunks.length, 1, 'one write, as Exim reads it');
  });

  it('a new CUID and COOKIE per connection', async () => {
    const [a, b] = [await (await h.connect()).handshake(), await (await h.connect()).handshake()];
    assert.notEqual(a[4], b[4]);
    assert.notEqual(a[5], b[5]);
  });

  it('announces only the configured mechanisms', async () => {
    const only = await startHarness(new Recording(), { mechanisms: ['LOGIN'] });
    try {
      const lines = await (await only.connect()).handshake();
      assert.deepEqual(lines.filter((l) => l.startsWith('MECH')), [`MECH${T}LOGIN${T}plaintext`]);
    } finally {
      await only.close();
    }
  });
});

describe('auth service: authentication', () => {
  let h: Harness;
  let auth: Recording;
  before(async () => {
    auth = new Recording();
    h = await startHarness(auth);
  });
  after(() => h.close());

  const session = async (minor = 0) => {
    const c = await h.connect();
    await c.handshake();
    c.send(`VERSION${T}1${T}${minor}\nCPID${T}4242\n`);
    return c;
  };

  it('PLAIN with an initial response, as Postfix sends it: OK with user=', async () => {
    const c = await session();
    c.send(`AUTH${T}1${T}PLAIN${T}service=smtp${T}nologin${T}lip=192.0.2.1${T}rip=198.51.100.7${T}secured${T}resp=${plain('alice', 'alice-pw')}\n`);
    assert.equal(await c.reply(`OK${T}1`), `OK${T}1${T}user=alice`);
    const req = auth.seen.at(-1)!;
    assert.deepEqual(
      { service: req.service, mech: req.mech, user: req.user, rip: req.remoteIp, lip: req.localIp, secured: req.secured },
      { service: 'smtp', mech: 'PLAIN', user: 'alice', rip: '198.51.100.7', lip: '192.0.2.1', secured: true },
    );
    assert.equal(req.password?.reveal(), 'alice-pw');
  });

  it('PLAIN without an initial response: an empty CONT, then OK', async () => {
    const c = await session();
    c.send(`AUTH${T}2${T}PLAIN${T}service=smtp\n`);
    assert.equal(await c.reply(`CONT${T}2`), `CONT${T}2${T}`);
    c.send(`CONT${T}2${T}${plain('alice', 'alice-pw')}\n`);
    assert.equal(await c.reply(`OK${T}2`), `OK${T}2${T}user=alice`);
  });

  it('LOGIN as Exim drives it: VERSION, CPID and AUTH in one write, an empty resp=, two challenges', async () => {
    const c = await h.connect();
    await c.handshake();
    c.send(`VERSION${T}1${T}0\nCPID${T}77\nAUTH${T}1${T}LOGIN${T}service=smtp${T}rip=127.0.0.1${T}lip=127.0.0.1${T}nologin${T}resp=\n`);
    assert.equal(await c.reply(`CONT${T}1`), `CONT${T}1${T}${b64('Username:')}`);
    c.send(`CONT${T}1${T}${b64('alice')}\n`);
    assert.equal(await c.reply(`CONT${T}1`), `CONT${T}1${T}${b64('Password:')}`);
    c.send(`CONT${T}1${T}${b64('alice-pw')}\n`);
    assert.equal(await c.reply(`OK${T}1`), `OK${T}1${T}user=alice`);
  });

  it('LOGIN with the user name as initial response', async () => {
    const c = await session();
    c.send(`AUTH${T}3${T}LOGIN${T}service=smtp${T}resp=${b64('alice')}\n`);
    assert.equal(await c.reply(`CONT${T}3`), `CONT${T}3${T}${b64('Password:')}`);
    c.send(`CONT${T}3${T}${b64('alice-pw')}\n`);
    assert.equal(await c.reply(`OK${T}3`), `OK${T}3${T}user=alice`);
  });

  it('the passdb may rename the user; OK carries the new name', async () => {
    const c = await session();
    c.send(`AUTH${T}4${T}PLAIN${T}service=smtp${T}resp=${plain('renamed', 'pw')}\n`);
    assert.equal(await c.reply(`OK${T}4`), `OK${T}4${T}user=Renamed@Example.org`);
  });

  it('a user name with a TAB comes back tab-escaped', async () => {
    const c = await session();
    c.send(`AUTH${T}5${T}PLAIN${T}service=smtp${T}resp=${plain('tab\tuser', 'tab-pw')}\n`);
    assert.equal(await c.reply(`OK${T}5`), `OK${T}5${T}user=tab\x01tuser`);
  });

  it('wrong password and unknown user get the same FAIL, after the failure delay', async () => {
    const c = await session();
    const before = h.delays.length;
    c.send(`AUTH${T}6${T}PLAIN${T}service=smtp${T}resp=${plain('alice', 'wrong')}\n`);
    c.send(`AUTH${T}7${T}PLAIN${T}service=smtp${T}resp=${plain('nobody', 'wrong')}\n`);
    assert.equal(await c.reply(`FAIL${T}6`), `FAIL${T}6${T}user=alice${T}reason=Authentication failed`);
    assert.equal(await c.reply(`FAIL${T}7`), `FAIL${T}7${T}user=nobody${T}reason=Authentication failed`);
    assert.deepEqual(h.delays.slice(before), [2000, 2000]);
  });

  it('a passdb nodelay field skips the delay', async () => {
    const c = await session();
    const before = h.delays.length;
    c.send(`AUTH${T}8${T}PLAIN${T}service=smtp${T}resp=${plain('hasty', 'wrong')}\n`);
    assert.equal(await c.reply(`FAIL${T}8`), `FAIL${T}8${T}user=hasty${T}reason=Authentication failed`);
    assert.equal(h.delays.length, before);
  });

  it('a malformed SASL message fails the request (delayed), the connection stays', async () => {
    const c = await session();
    c.send(`AUTH${T}9${T}PLAIN${T}service=smtp${T}resp=${b64('no-nul-bytes')}\n`);
    assert.equal(await c.reply(`FAIL${T}9`), `FAIL${T}9${T}reason=Authentication failed`);
    c.send(`AUTH${T}10${T}PLAIN${T}service=smtp${T}resp=${plain('alice', 'alice-pw')}\n`);
    assert.equal(await c.reply(`OK${T}10`), `OK${T}10${T}user=alice`);
  });

  it('an authorization identity other than the user is refused (no master passdb): code=authz_fail', async () => {
    const c = await session();
    c.send(`AUTH${T}11${T}PLAIN${T}service=smtp${T}resp=${plain('alice', 'alice-pw', 'bob')}\n`);
    assert.equal(await c.reply(`FAIL${T}11`), `FAIL${T}11${T}user=alice${T}code=authz_fail${T}reason=Authentication failed`);
  });

  it('invalid rip/lip values are ignored, ports are passed on', async () => {
    const c = await session();
    c.send(`AUTH${T}12${T}PLAIN${T}service=submission${T}rip=not-an-ip${T}lip=::ffff:192.0.2.9${T}lport=587${T}rport=50123${T}resp=${plain('alice', 'alice-pw')}\n`);
    await c.reply(`OK${T}12`);
    const req = auth.seen.at(-1)!;
    assert.deepEqual([req.service, req.remoteIp, req.localIp, req.localPort, req.remotePort, req.secured], ['submission', '', '192.0.2.9', 587, 50123, false]);
  });

  it('several requests in flight on one connection, answered as each finishes', async () => {
    const c = await session();
    const release = auth.hold('alice');
    c.send(`AUTH${T}20${T}PLAIN${T}service=smtp${T}resp=${plain('alice', 'alice-pw')}\n`);
    c.send(`AUTH${T}21${T}LOGIN${T}service=smtp\n`);
    c.send(`AUTH${T}22${T}PLAIN${T}service=smtp${T}resp=${plain('quick', 'quick-pw')}\n`);
    assert.equal(await c.reply(`OK${T}22`), `OK${T}22${T}user=quick`);
    await c.reply(`CONT${T}21`);
    assert.ok(!c.replies().some((l) => l.startsWith(`OK${T}20`)));
    release();
    assert.equal(await c.reply(`OK${T}20`), `OK${T}20${T}user=alice`);
    // The challenge goes out at once; 22 finishes while 20 is held.
    assert.deepEqual(c.replies().map((l) => l.split(T).slice(0, 2).join(' ')), ['CONT 21', 'OK 22', 'OK 20']);
  });

  it('CANCEL drops a request: no reply, and its id is free again', async () => {
    const c = await session();
    const release = auth.hold('alice');
    c.send(`AUTH${T}30${T}PLAIN${T}service=smtp${T}resp=${plain('alice', 'alice-pw')}\n`);
    c.send(`CANCEL${T}30\nCANCEL${T}999\nCONT${T}998${T}AA==\n`);
    assert.equal(await c.reply(`FAIL${T}998`), `FAIL${T}998${T}reason=Authentication request timed out`); // the lines before it were read
    release();
    c.send(`AUTH${T}30${T}PLAIN${T}service=smtp${T}resp=${plain('quick', 'quick-pw')}\n`);
    assert.equal(await c.reply(`OK${T}30`), `OK${T}30${T}user=quick`);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(c.replies().slice(1), [`OK${T}30${T}user=quick`]);
  });

  it('a temporary passdb failure, to a 1.0 client (Postfix, Exim): the connection closes, which they read as "try later"', async () => {
    const c = await session(0);
    c.send(`AUTH${T}40${T}PLAIN${T}service=smtp${T}resp=${plain('dbdown', 'x')}\n`);
    await c.waitClosed();
    assert.deepEqual(c.replies(), []);
    await h.logs.waitFor((r) => r['event'] === 'auth_tempfail' && r['reason'] === 'database unreachable');
  });

  it('a temporary passdb failure, to a client that reads `temp` (protocol 1.1+): FAIL with temp', async () => {
    const c = await session(2);
    c.send(`AUTH${T}41${T}PLAIN${T}service=smtp${T}resp=${plain('dbdown', 'x')}\n`);
    assert.equal(await c.reply(`FAIL${T}41`), `FAIL${T}41${T}user=dbdown${T}code=temp_fail${T}temp${T}reason=Temporary authentication failure`);
    assert.ok(!c.closed);
  });

  it('logs the outcome with the request fields, never the password', async () => {
    const c = await session();
    c.send(`AUTH${T}50${T}PLAIN${T}service=smtp${T}rip=203.0.113.5${T}resp=${plain('alice', 'alice-pw')}\n`);
    await c.reply(`OK${T}50`);
    const line = await h.logs.waitFor((r) => r['event'] === 'auth_ok' && r['id'] === 50);
    assert.deepEqual([line['user'], line['service'], line['mech'], line['client']], ['alice', 'smtp', 'PLAIN', '203.0.113.5']);
    assert.ok(!h.logs.raw().includes('alice-pw'));
    assert.ok(!h.logs.raw().includes(plain('alice', 'alice-pw')));
  });
});

describe('auth service: the failure penalty, shared with IMAP and POP3', () => {
  it('failures from one client address hold its next requests; no-penalty requests are exempt', async () => {
    const waits: number[] = [];
    const policy = new AuthPolicy({ failureDelayMs: 2000, sleep: async (ms) => void waits.push(ms) });
    const h = await startHarness(new Recording(), { policy, trustedNetworks: new NetworkList(['10.0.0.0/8']) });
    try {
      const c = await h.connect();
      await c.handshake();
      c.send(`VERSION${T}1${T}0\n`);
      const auth = (id: number, pw: string, extra = '') => c.send(`AUTH${T}${id}${T}PLAIN${T}service=smtp${T}rip=203.0.113.9${extra}${T}resp=${plain('alice', pw)}\n`);
      auth(1, 'wrong-1');
      await c.reply(`FAIL${T}1`);
      auth(2, 'wrong-2');
      await c.reply(`FAIL${T}2`);
      auth(3, 'alice-pw', `${T}no-penalty`);
      await c.reply(`OK${T}3`);
      auth(4, 'alice-pw');
      assert.equal(await c.reply(`OK${T}4`), `OK${T}4${T}user=alice`);
      const held = (id: number) => h.logs.records.find((r) => r['event'] === 'auth_penalty' && r['id'] === id);
      assert.equal(held(1), undefined, 'a first attempt is not held');
      assert.equal(held(3), undefined, 'no-penalty: not held');
      // A client in login_trusted_networks (a webmail) is never held either.
      auth(5, 'wrong-5', '');
      c.send(`AUTH${T}6${T}PLAIN${T}service=smtp${T}rip=10.1.2.3${T}resp=${plain('alice', 'alice-pw')}\n`);
      await c.reply(`FAIL${T}5`);
      await c.reply(`OK${T}6`);
      assert.equal(held(6), undefined, 'trusted network: not held');
      for (const [id, level] of [[2, 1], [4, 2]] as const) {
        const line = held(id);
        assert.equal(line?.['level'], level, `request ${id}`);
        assert.ok(waits.includes(Number(line?.['ms'])), `request ${id} waited ${String(line?.['ms'])} ms`);
      }
    } finally {
      await h.close();
    }
  });
});

describe('auth service: unix socket listener', () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-authsock-'));
  const path = join(dir, 'auth-client');
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('serves on a unix socket with the configured mode, and removes it on close', async () => {
    const h = await startHarness(new Recording(), { path, mode: '0660' });
    try {
      assert.equal(statSync(path).mode & 0o777, 0o660);
      const c = await h.connect();
      await c.handshake();
      c.send(`VERSION${T}1${T}0\nAUTH${T}1${T}PLAIN${T}service=smtp${T}resp=${plain('alice', 'alice-pw')}\n`);
      assert.equal(await c.reply(`OK${T}1`), `OK${T}1${T}user=alice`);
    } finally {
      await h.close();
    }
    assert.throws(() => statSync(path), /ENOENT/);
  });

  it('refuses a socket in use, and a path that is not a socket', async () => {
    const first = await startHarness(new Recording(), { path });
    await assert.rejects(startHarness(new Recording(), { path }), /another process is listening/);
    await first.close();
    writeFileSync(path, 'not a socket');
    await assert.rejects(startHarness(new Recording(), { path }), /exists and is not a socket/);
    rmSync(path);
  });

  it('replaces a stale socket file that nobody listens on (left by a crash)', { skip: findPython() ? false : 'python3 not installed' }, async () => {
    // A bound, never-listening socket: what a killed process leaves behind.
    execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
    assert.ok(statSync(path).isSocket());
    const h = await startHarness(new Recording(), { path });
    const c = await h.connect();
    assert.equal((await c.handshake()).at(-1), 'DONE');
    await h.close();
  });
});
