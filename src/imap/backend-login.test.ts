import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret } from '../core/index.js';
import type { BackendTarget, LoginStep, ProxyFailureKind } from '../proxy/index.js';
import { ImapBackendLogin, type ImapBackendLoginOptions } from './backend-login.js';

// The backend's bytes are scripted; the machine does no I/O, so what it writes back only
// has to be checked, never answered. Events: backend bytes, or the I/O layer's "connected".
type Event = string | Buffer | { connected: boolean };

/** A step as plain data: bytes as latin1 text so a failing assertion shows them. */
type Seen =
  | { write: string }
  | { forward: string }
  | { starttls: true }
  | { success: string; leftover: string }
  | { failure: ProxyFailureKind; remoteReply?: string };

const FORWARD = { session: 'c2Vzc2lvbi1pZA==', clientIp: '192.0.2.10', clientPort: 50123, localIp: '198.51.100.1', localPort: 143, ttl: 6 };
const ID_LINE =
  'I ID ("x-session-id" "c2Vzc2lvbi1pZA==" "x-originating-ip" "192.0.2.10" "x-originating-port" "50123" ' +
  '"x-connected-ip" "198.51.100.1" "x-connected-port" "143" "x-proxy-ttl" "6")\r\n';

function target(over: Partial<BackendTarget> = {}): BackendTarget {
  return { host: '192.0.2.1', port: 143, tls: 'none', verifyCert: false, user: 'alice', password: new Secret('pw'), nopipelining: false, notTrusted: false, timeoutMs: 30_000, ...over };
}

function machine(t: Partial<BackendTarget> = {}, o: Partial<ImapBackendLoginOptions> = {}): ImapBackendLogin {
  return new ImapBackendLogin({ target: target(t), clientTag: 'A1', clientAskedCapability: false, forward: FORWARD, ...o });
}

function show(step: LoginStep): Seen {
  const text = (d: Buffer | string) => (typeof d === 'string' ? d : d.toString('latin1'));
  switch (step.kind) {
    case 'write':
      return { write: text(step.data) };
    case 'forward':
      return { forward: text(step.data) };
    case 'starttls':
      return { starttls: true };
    case 'success':
      return { success: text(step.clientReply), leftover: text(step.leftover) };
    case 'failure':
      return { failure: step.failure.kind, ...(step.failure.remoteReply !== undefined ? { remoteReply: step.failure.remoteReply } : {}) };
  }
}

/**
 * Runs the events, `onConnected(false)` first, and returns one list of steps per event.
 * Bytes arriving after a success are what the pipe would relay: added to `leftover`.
 */
function drive(m: ImapBackendLogin, events: readonly Event[], split: (b: Buffer) => Buffer[] = (b) => [b]): Seen[][] {
  const out: Seen[][] = [m.onConnected(false).map(show)];
  let done: Seen | undefined;
  for (const ev of events) {
    if (done && 'success' in done) {
      if (typeof ev === 'object' && !Buffer.isBuffer(ev)) continue;
      done.leftover += Buffer.from(ev).toString('latin1');
      continue;
    }
    if (done) break;
    if (typeof ev === 'object' && !Buffer.isBuffer(ev)) {
      out.push(m.onConnected(ev.connected).map(show));
      continue;
    }
    const steps: Seen[] = [];
    for (const piece of split(Buffer.from(ev))) {
      if (done && 'success' in done) done.leftover += piece.toString('latin1');
      else if (!done) steps.push(...m.onData(piece).map(show));
      done ??= steps.find((s) => 'success' in s || 'failure' in s);
    }
    out.push(steps);
  }
  return out;
}

const steps = (t: Partial<BackendTarget>, events: readonly Event[], o: Partial<ImapBackendLoginOptions> = {}): Seen[] => drive(machine(t, o), events).flat();
const last = <T>(xs: readonly T[]): T | undefined => xs[xs.length - 1];
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

const BANNER = '* OK [CAPABILITY IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ AUTH=PLAIN] Dovecot ready.\r\n';
const SUCCESS_SCRIPT = [BANNER, '* ID ("name" "Dovecot")\r\nI OK ID completed.\r\n', 'L OK [CAPABILITY IMAP4rev1 IDLE SORT] Logged in\r\n'];

describe('ImapBackendLogin: the pipelined success path', () => {
  it('answers the banner with ID and LOGIN in one burst, then hands the client the OK', () => {
    assert.deepStrictEqual(drive(machine(), SUCCESS_SCRIPT), [
      [],
      [{ write: ID_LINE }, { write: 'L LOGIN alice pw\r\n' }],
      [],
      [{ success: 'A1 OK [CAPABILITY IMAP4rev1 IDLE SORT] Logged in\r\n', leftover: '' }],
    ]);
  });

  it('gives the same steps however the backend bytes are cut', () => {
    const whole = Buffer.from(SUCCESS_SCRIPT.join('') + '* 1 EXISTS\r\n', 'latin1');
    const expected = [{ write: ID_LINE }, { write: 'L LOGIN alice pw\r\n' }, { success: 'A1 OK [CAPABILITY IMAP4rev1 IDLE SORT] Logged in\r\n', leftover: '* 1 EXISTS\r\n' }];
    assert.deepStrictEqual(drive(machine(), [whole]).flat(), expected, 'in one piece');
    for (let i = 1; i < whole.length; i++) {
      const cut = (b: Buffer) => [b.subarray(0, i), b.subarray(i)];
      assert.deepStrictEqual(drive(machine(), [whole], cut).flat(), expected, `cut at byte ${i}`);
    }
    const bytes = (b: Buffer) => Array.from(b, (_, i) => b.subarray(i, i + 1));
    assert.deepStrictEqual(drive(machine(), [whole], bytes).flat(), expected, 'byte by byte');
  });

  it('forwards the exact Dovecot 2.3 ID keys in order, IPv6 included', () => {
    const forward = { ...FORWARD, clientIp: '2001:db8::7', clientPort: 1, localIp: '::1', localPort: 993, ttl: 4 };
    const s = steps({}, [BANNER], { forward });
    assert.deepStrictEqual(s[0], {
      write: `I ID ("x-session-id" "${FORWARD.session}" "x-originating-ip" "2001:db8::7" "x-originating-port" "1" "x-connected-ip" "::1" "x-connected-port" "993" "x-proxy-ttl" "4")\r\n`,
    });
  });

  it('sends a forwarded session id that cannot be quoted as a literal, or fails the login if it cannot be sent', () => {
    const s = steps({}, [BANNER], { forward: { ...FORWARD, session: 'sé"1' } });
    assert.deepStrictEqual(s[0], {
      write: `I ID ("x-session-id" {5+}\r\ns\xc3\xa9"1 "x-originating-ip" "192.0.2.10" "x-originating-port" "50123" "x-connected-ip" "198.51.100.1" "x-connected-port" "143" "x-proxy-ttl" "6")\r\n`,
    });
    assert.deepStrictEqual(steps({}, [BANNER], { forward: { ...FORWARD, session: 'a\0b' } })[0], { failure: 'internal' });
  });
});

describe('ImapBackendLogin: what is written before login', () => {
  const cases: Array<{ title: string; t?: Partial<BackendTarget>; events: Event[]; expected: Seen[][] }> = [
    {
      title: 'proxy_not_trusted: no ID',
      t: { notTrusted: true },
      events: [BANNER],
      expected: [[], [{ write: 'L LOGIN alice pw\r\n' }]],
    },
    {
      title: 'backend without ID: no ID',
      events: ['* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n'],
      expected: [[], [{ write: 'L LOGIN alice pw\r\n' }]],
    },
    {
      title: 'proxy_nopipelining: ID, then LOGIN only after "I OK"',
      t: { nopipelining: true },
      events: [BANNER, '* ID NIL\r\n', 'I OK done\r\n'],
      expected: [[], [{ write: ID_LINE }], [], [{ write: 'L LOGIN alice pw\r\n' }]],
    },
    {
      title: 'banner without capabilities: CAPABILITY first, then ID and LOGIN',
      events: ['* OK ready\r\n', '* CAPABILITY IMAP4rev1 ID\r\n', 'C OK done\r\n'],
      expected: [[], [{ write: 'C CAPABILITY\r\n' }], [], [{ write: ID_LINE }, { write: 'L LOGIN alice pw\r\n' }]],
    },
    {
      title: 'starttls: S STARTTLS, upgrade, CAPABILITY again, then ID and LOGIN',
      t: { tls: 'starttls' },
      events: ['* OK [CAPABILITY IMAP4rev1 STARTTLS LOGINDISABLED] hi\r\n', 'S OK go\r\n', { connected: true }, '* CAPABILITY IMAP4rev1 ID AUTH=PLAIN\r\nC OK done\r\n'],
      expected: [[], [{ write: 'S STARTTLS\r\n' }], [{ starttls: true }], [{ write: 'C CAPABILITY\r\n' }], [{ write: ID_LINE }, { write: 'L LOGIN alice pw\r\n' }]],
    },
    {
      title: 'an empty capability list is a list: no CAPABILITY asked, LOGIN straight away',
      events: ['* OK [CAPABILITY] hi\r\n'],
      expected: [[], [{ write: 'L LOGIN alice pw\r\n' }]],
    },
    {
      title: 'starttls to a backend whose list is empty: not offered, the login fails',
      t: { tls: 'starttls' },
      events: ['* OK [CAPABILITY] hi\r\n'],
      expected: [[], [{ failure: 'config' }]],
    },
    {
      title: 'starttls with an unknown capability list: tries STARTTLS anyway',
      t: { tls: 'starttls' },
      events: ['* OK hi\r\n'],
      expected: [[], [{ write: 'S STARTTLS\r\n' }]],
    },
    {
      title: 'implicit TLS: LOGINDISABLED does not stop LOGIN',
      t: { tls: 'implicit' },
      events: [{ connected: true }, '* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\n'],
      expected: [[], [], [{ write: 'L LOGIN alice pw\r\n' }]],
    },
    {
      title: 'master user with SASL-IR: AUTHENTICATE PLAIN with user\\0master\\0pass',
      t: { master: 'admin', password: new Secret('masterpw') },
      events: ['* OK [CAPABILITY IMAP4rev1 SASL-IR] hi\r\n'],
      expected: [[], [{ write: `L AUTHENTICATE PLAIN ${b64('alice\0admin\0masterpw')}\r\n` }]],
    },
    {
      title: 'master user without SASL-IR: the response follows "+ "',
      t: { master: 'admin', password: new Secret('masterpw') },
      events: ['* OK [CAPABILITY IMAP4rev1] hi\r\n', '+ \r\n'],
      expected: [[], [{ write: 'L AUTHENTICATE PLAIN\r\n' }], [{ write: `${b64('alice\0admin\0masterpw')}\r\n` }]],
    },
    {
      title: 'a bare "+" is a continuation too',
      t: { master: 'admin' },
      events: ['* OK [CAPABILITY IMAP4rev1] hi\r\n', '+\r\n'],
      expected: [[], [{ write: 'L AUTHENTICATE PLAIN\r\n' }], [{ write: `${b64('alice\0admin\0pw')}\r\n` }]],
    },
    {
      title: 'proxy_mech=PLAIN: authzid empty',
      t: { mech: 'PLAIN' },
      events: ['* OK [CAPABILITY IMAP4rev1 SASL-IR] hi\r\n'],
      expected: [[], [{ write: `L AUTHENTICATE PLAIN ${b64('\0alice\0pw')}\r\n` }]],
    },
    {
      title: 'a password with quotes and spaces goes quoted',
      t: { password: new Secret('p w"\\') },
      events: ['* OK [CAPABILITY IMAP4rev1] hi\r\n'],
      expected: [[], [{ write: 'L LOGIN alice "p w\\"\\\\"\r\n' }]],
    },
    {
      title: 'an empty password goes as ""',
      t: { password: new Secret('') },
      events: ['* OK [CAPABILITY IMAP4rev1] hi\r\n'],
      expected: [[], [{ write: 'L LOGIN alice ""\r\n' }]],
    },
    {
      title: '8-bit password with LITERAL+: a non-synchronizing literal',
      t: { password: new Secret('pässw') },
      events: ['* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n'],
      expected: [[], [{ write: 'L LOGIN alice {6+}\r\np\xc3\xa4ssw\r\n' }]],
    },
    {
      title: 'password with CR and LITERAL+: a literal',
      t: { password: new Secret('a\rb') },
      events: ['* OK [CAPABILITY IMAP4rev1 LITERAL+] hi\r\n'],
      expected: [[], [{ write: 'L LOGIN alice {3+}\r\na\rb\r\n' }]],
    },
    {
      title: '8-bit user without LITERAL+: AUTHENTICATE PLAIN with SASL-IR',
      t: { user: 'jörg' },
      events: ['* OK [CAPABILITY IMAP4rev1 SASL-IR] hi\r\n'],
      expected: [[], [{ write: `L AUTHENTICATE PLAIN ${b64('\0jörg\0pw')}\r\n` }]],
    },
    {
      title: '8-bit password without LITERAL+ or SASL-IR: AUTHENTICATE PLAIN, then the response',
      t: { password: new Secret('pässw') },
      events: ['* OK [CAPABILITY IMAP4rev1] hi\r\n', '+ \r\n'],
      expected: [[], [{ write: 'L AUTHENTICATE PLAIN\r\n' }], [{ write: `${b64('\0alice\0pässw')}\r\n` }]],
    },
  ];
  for (const c of cases) {
    it(c.title, () => assert.deepStrictEqual(drive(machine(c.t), c.events), c.expected));
  }
});

describe('ImapBackendLogin: the final step', () => {
  const OK_CAPS = 'L OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n';
  const cases: Array<{ title: string; t?: Partial<BackendTarget>; o?: Partial<ImapBackendLoginOptions>; events: Event[]; expected: Seen }> = [
    { title: 'L OK [CAPABILITY] is passed on under the client tag', events: [BANNER, OK_CAPS], expected: { success: 'A1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n', leftover: '' } },
    {
      title: 'L OK without capabilities: asks for them and puts them in the OK',
      events: [BANNER, 'L OK Welcome\r\n', '* CAPABILITY IMAP4rev1 IDLE MOVE\r\nC OK done\r\n'],
      expected: { success: 'A1 OK [CAPABILITY IMAP4rev1 IDLE MOVE] Welcome\r\n', leftover: '' },
    },
    {
      title: 'client asked CAPABILITY before login: * CAPABILITY, then a plain OK',
      o: { clientAskedCapability: true },
      events: [BANNER, OK_CAPS],
      expected: { success: '* CAPABILITY IMAP4rev1 IDLE\r\nA1 OK Logged in\r\n', leftover: '' },
    },
    { title: 'bytes after L OK are handed over as leftover', events: [BANNER, `${OK_CAPS}* 3 EXISTS\r\n* OK [UIDVALIDITY 1] x`], expected: { success: 'A1 OK [CAPABILITY IMAP4rev1 IDLE] Logged in\r\n', leftover: '* 3 EXISTS\r\n* OK [UIDVALIDITY 1] x' } },
    { title: 'L NO [AUTHENTICATIONFAILED]: authRefused', events: [BANNER, 'L NO [AUTHENTICATIONFAILED] No such user alice\r\n'], expected: { failure: 'authRefused' } },
    { title: 'L NO without a code: authRefused', events: [BANNER, 'L NO go away\r\n'], expected: { failure: 'authRefused' } },
    { title: 'L BAD: authRefused', events: [BANNER, 'L BAD what?\r\n'], expected: { failure: 'authRefused' } },
    { title: 'L NO [UNAVAILABLE]: authTempFail with the reply', events: [BANNER, 'L NO [UNAVAILABLE] Try later\r\n'], expected: { failure: 'authTempFail', remoteReply: 'NO [UNAVAILABLE] Try later' } },
    { title: 'L NO [LIMIT]: forwarded', events: [BANNER, 'L NO [LIMIT] Too many connections\r\n'], expected: { failure: 'remoteCode', remoteReply: 'NO [LIMIT] Too many connections' } },
    { title: 'L NO [SERVERBUG]: config', events: [BANNER, 'L NO [SERVERBUG] Internal error\r\n'], expected: { failure: 'config' } },
    { title: 'a banner that is not "* OK": protocol', events: ['HTTP/1.1 400 Bad Request\r\n'], expected: { failure: 'protocol' } },
    { title: '"* BYE" as banner: protocol', events: ['* BYE Too many connections\r\n'], expected: { failure: 'protocol' } },
    { title: 'LOGINDISABLED without TLS: config', events: ['* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\n'], expected: { failure: 'config' } },
    { title: 'STARTTLS wanted but not advertised: config', t: { tls: 'starttls' }, events: ['* OK [CAPABILITY IMAP4rev1 ID] hi\r\n'], expected: { failure: 'config' } },
    { title: 'proxy_mech other than PLAIN: config', t: { mech: 'CRAM-MD5' }, events: [BANNER], expected: { failure: 'config' } },
    { title: 'C CAPABILITY refused: protocol', events: ['* OK hi\r\n', 'C BAD no\r\n'], expected: { failure: 'protocol' } },
    { title: 'a reply under an unknown tag is ignored', events: [BANNER, 'X OK what\r\n', 'L OK [CAPABILITY IMAP4rev1] in\r\n'], expected: { success: 'A1 OK [CAPABILITY IMAP4rev1] in\r\n', leftover: '' } },
    { title: 'S NO: protocol (Dovecot: remote failure, [UNAVAILABLE])', t: { tls: 'starttls' }, events: ['* OK [CAPABILITY IMAP4rev1 STARTTLS] hi\r\n', 'S NO not now\r\n'], expected: { failure: 'protocol' } },
  ];
  for (const c of cases) {
    it(c.title, () => assert.deepStrictEqual(last(steps(c.t ?? {}, c.events, c.o)), c.expected));
  }

  it('stops at the failure: nothing is written after it', () => {
    const s = steps({}, ['* OK [CAPABILITY IMAP4rev1 LOGINDISABLED] hi\r\nL OK [CAPABILITY IMAP4rev1] in\r\n']);
    assert.deepStrictEqual(s, [{ failure: 'config' }]);
  });
});

describe('ImapBackendLogin: untagged lines while logging in', () => {
  it('ignores * BYE, * ID and * CAPABILITY, forwards * OK [ALERT] and others in order', () => {
    const s = steps({}, [BANNER, '* BYE going away soon\r\n* ID NIL\r\n* OK [ALERT] Password expires in 3 days\r\n* NO warn\r\nI OK\r\n', 'L OK [CAPABILITY IMAP4rev1] in\r\n']);
    assert.deepStrictEqual(s.slice(2), [
      { forward: '* OK [ALERT] Password expires in 3 days\r\n' },
      { forward: '* NO warn\r\n' },
      { success: 'A1 OK [CAPABILITY IMAP4rev1] in\r\n', leftover: '' },
    ]);
  });

  it('after login, * CAPABILITY seen earlier is used when L OK has none', () => {
    const s = steps({}, [BANNER, '* CAPABILITY IMAP4rev1 X-EARLY\r\nL OK in\r\n', 'C OK done\r\n']);
    assert.deepStrictEqual(s.slice(2), [{ write: 'C CAPABILITY\r\n' }, { success: 'A1 OK [CAPABILITY IMAP4rev1 X-EARLY] in\r\n', leftover: '' }]);
  });
});
