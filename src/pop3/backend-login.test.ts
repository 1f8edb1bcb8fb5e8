import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Secret } from '../core/index.js';
import type { BackendTarget, LoginStep, ProxyFailureKind } from '../proxy/index.js';
import { Pop3BackendLogin } from './backend-login.js';

// The backend's lines are scripted; the machine does no I/O. An event is backend bytes, or
// the I/O layer's "connected" after a TLS upgrade.
type Event = string | { connected: true };
type Seen = { write: string } | { starttls: true } | { success: string; leftover: string } | { failure: ProxyFailureKind; remoteReply?: string };

const FORWARD = { session: 'c2Vzc2lvbi1pZA==', clientIp: '192.0.2.10', clientPort: 50123, ttl: 6 };
const XCLIENT = 'XCLIENT ADDR=192.0.2.10 PORT=50123 SESSION=c2Vzc2lvbi1pZA== TTL=6\r\n';

function target(over: Partial<BackendTarget> = {}): BackendTarget {
  return { host: '192.0.2.1', port: 110, tls: 'none', verifyCert: false, user: 'alice', password: new Secret('pw'), nopipelining: false, notTrusted: false, timeoutMs: 30_000, ...over };
}

function show(step: LoginStep): Seen {
  const text = (d: Buffer | string) => (typeof d === 'string' ? d : d.toString('latin1'));
  switch (step.kind) {
    case 'write':
      return { write: text(step.data) };
    case 'forward':
      throw new Error('POP3 forwards nothing before the final reply');
    case 'starttls':
      return { starttls: true };
    case 'success':
      return { success: text(step.clientReply), leftover: text(step.leftover) };
    case 'failure':
      return { failure: step.failure.kind, ...(step.failure.remoteReply !== undefined ? { remoteReply: step.failure.remoteReply } : {}) };
  }
}

/**
 * All steps, `onConnected(tls)` first; with `byteByByte` every backend byte is fed alone. The
 * connection acknowledges at once (the native dial) unless `quickAck` is false.
 */
function steps(t: Partial<BackendTarget>, events: readonly Event[], opts: { tls?: boolean; byteByByte?: boolean; quickAck?: boolean } = {}): Seen[] {
  const m = new Pop3BackendLogin({ target: target(t), forward: FORWARD });
  const quickAck = opts.quickAck ?? true;
  const out: Seen[] = m.onConnected(opts.tls ?? false, quickAck).map(show);
  for (const ev of events) {
    if (typeof ev !== 'string') {
      out.push(...m.onConnected(true, quickAck).map(show));
      continue;
    }
    const bytes = Buffer.from(ev, 'latin1');
    const pieces = opts.byteByByte ? [...bytes].map((b) => Buffer.from([b])) : [bytes];
    for (const p of pieces) out.push(...m.onData(p).map(show));
  }
  return out;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');

describe('Pop3BackendLogin: the happy paths', () => {
  it('USER and PASS in one burst; the backend\'s +OK line goes to the client unchanged', () => {
    for (const byteByByte of [false, true]) {
      const out = steps({}, ['+OK Dovecot ready.\r\n', '+OK\r\n+OK Logged in.\r\n'], { byteByByte });
      assert.deepStrictEqual(out.filter((s) => !('write' in s) || s.write !== ''), [
        { write: 'USER alice\r\nPASS pw\r\n' },
        { success: '+OK Logged in.\r\n', leftover: '' },
      ]);
    }
  });

  it('XCLIENT first when the banner says [XCLIENT] (the 2.3.21 form), all pipelined', () => {
    const out = steps({}, ['+OK [XCLIENT] Dovecot ready.\r\n', '+OK Updated\r\n+OK\r\n+OK Logged in.\r\n+OK 1 2\r\n']);
    assert.deepStrictEqual(out, [{ write: `${XCLIENT}USER alice\r\nPASS pw\r\n` }, { success: '+OK Logged in.\r\n', leftover: '+OK 1 2\r\n' }]);
  });

  it('no XCLIENT to a backend marked proxy_not_trusted, nor without [XCLIENT] in the banner', () => {
    assert.deepStrictEqual(steps({ notTrusted: true }, ['+OK [XCLIENT] ready\r\n'])[0], { write: 'USER alice\r\nPASS pw\r\n' });
    assert.deepStrictEqual(steps({}, ['+OK ready [XCLIENT]\r\n'])[0], { write: 'USER alice\r\nPASS pw\r\n' });
  });

  it('a connection that does not acknowledge at once (a Node socket): XCLIENT and USER together, PASS after USER\'s +OK', () => {
    for (const byteByByte of [false, true]) {
      const out = steps({}, ['+OK [XCLIENT] ready\r\n', '+OK Updated\r\n+OK\r\n', '+OK Logged in.\r\n'], { quickAck: false, byteByByte });
      assert.deepStrictEqual(out, [{ write: `${XCLIENT}USER alice\r\n` }, { write: 'PASS pw\r\n' }, { success: '+OK Logged in.\r\n', leftover: '' }]);
    }
    // One command: nothing to hold back; AUTH has no second command either.
    assert.deepStrictEqual(steps({ mech: 'PLAIN' }, ['+OK ready\r\n'], { quickAck: false })[0], { write: `AUTH PLAIN ${b64('\0alice\0pw')}\r\n` });
    const refused = steps({}, ['+OK ready\r\n', '-ERR [AUTH] no such user\r\n'], { quickAck: false });
    assert.deepStrictEqual(refused, [{ write: 'USER alice\r\n' }, { failure: 'authRefused' }], 'a refused USER sends no PASS');
  });

  it('proxy_nopipelining: each command waits for its +OK', () => {
    const out = steps({ nopipelining: true }, ['+OK [XCLIENT] ready\r\n', '+OK Updated\r\n', '+OK\r\n', '+OK Logged in.\r\n']);
    assert.deepStrictEqual(out, [{ write: XCLIENT }, { write: 'USER alice\r\n' }, { write: 'PASS pw\r\n' }, { success: '+OK Logged in.\r\n', leftover: '' }]);
  });

  it('a master user logs in with AUTH PLAIN, authzid = the user, authcid = the master', () => {
    const out = steps({ master: 'proxymaster', password: new Secret('master-secret') }, ['+OK ready\r\n', '+OK Logged in.\r\n']);
    assert.deepStrictEqual(out, [{ write: `AUTH PLAIN ${b64('alice\0proxymaster\0master-secret')}\r\n` }, { success: '+OK Logged in.\r\n', leftover: '' }]);
  });

  it('proxy_mech=PLAIN logs in as the user; another mechanism is a configuration error', () => {
    assert.deepStrictEqual(steps({ mech: 'PLAIN' }, ['+OK ready\r\n'])[0], { write: `AUTH PLAIN ${b64('\0alice\0pw')}\r\n` });
    assert.deepStrictEqual(steps({ mech: 'CRAM-MD5' }, ['+OK ready\r\n']), [{ failure: 'config' }]);
  });

  it('a password USER/PASS cannot carry (CR or LF) goes in AUTH PLAIN; NUL cannot go at all', () => {
    assert.deepStrictEqual(steps({ password: new Secret('a\r\nDELE 1') }, ['+OK ready\r\n'])[0], { write: `AUTH PLAIN ${b64('\0alice\0a\r\nDELE 1')}\r\n` });
    assert.deepStrictEqual(steps({ password: new Secret('a\0b') }, ['+OK ready\r\n']), [{ failure: 'internal' }]);
  });

  it('STLS first with starttls=yes, then the login after the handshake; bytes before it are dropped', () => {
    const out = steps({ tls: 'starttls' }, ['+OK [XCLIENT] ready\r\n', '+OK Begin TLS negotiation now.\r\n+OK injected\r\n', { connected: true }, '+OK Updated\r\n+OK\r\n+OK Logged in.\r\n']);
    assert.deepStrictEqual(out, [{ write: 'STLS\r\n' }, { starttls: true }, { write: `${XCLIENT}USER alice\r\nPASS pw\r\n` }, { success: '+OK Logged in.\r\n', leftover: '' }]);
  });

  it('implicit TLS: no STLS', () => {
    assert.deepStrictEqual(steps({ tls: 'implicit' }, ['+OK ready\r\n'], { tls: true })[0], { write: 'USER alice\r\nPASS pw\r\n' });
  });
});

describe('Pop3BackendLogin: failures as in shared/reference 2.2', () => {
  const login = (reply: string, t: Partial<BackendTarget> = {}) => steps(t, ['+OK ready\r\n', `+OK\r\n${reply}\r\n`]).at(-1);
  const cases: [string, string, Seen][] = [
    ['[AUTH] is ours to word', '-ERR [AUTH] Authentication failed.', { failure: 'authRefused' }],
    ['no code: reworded too, so the backend cannot tell which users exist', '-ERR no such user', { failure: 'authRefused' }],
    ['a line that is no -ERR', 'what?', { failure: 'authRefused' }],
    ['bare -ERR', '-ERR', { failure: 'authRefused' }],
    ['[SYS/TEMP] is temporary, the line kept for the client', '-ERR [SYS/TEMP] Try later', { failure: 'authTempFail', remoteReply: '-ERR [SYS/TEMP] Try later' }],
    ['[IN-USE] forwarded', '-ERR [IN-USE] Mailbox is locked by another POP3 session', { failure: 'remoteCode', remoteReply: '-ERR [IN-USE] Mailbox is locked by another POP3 session' }],
    ['[LOGIN-DELAY] forwarded', '-ERR [LOGIN-DELAY] Wait', { failure: 'remoteCode', remoteReply: '-ERR [LOGIN-DELAY] Wait' }],
    ['a SASL challenge after PLAIN with initial response', '+ ', { failure: 'protocol' }],
  ];
  for (const [title, reply, expected] of cases) it(title, () => assert.deepStrictEqual(login(reply), expected));

  it('a refused USER ends the login at once', () => {
    assert.deepStrictEqual(steps({}, ['+OK ready\r\n', '-ERR [AUTH] nope\r\n-ERR No username given.\r\n']).at(-1), { failure: 'authRefused' });
  });

  it('a banner that is not +OK is a protocol failure', () => {
    assert.deepStrictEqual(steps({}, ['* OK IMAP4rev1 ready\r\n']), [{ failure: 'protocol' }]);
    assert.deepStrictEqual(steps({}, ['-ERR [SYS/TEMP] overloaded\r\n']), [{ failure: 'protocol' }]);
  });

  it('STLS refused: [SYS/TEMP] to the client; XCLIENT refused: a configuration failure (no reconnect)', () => {
    assert.deepStrictEqual(steps({ tls: 'starttls' }, ['+OK ready\r\n', '-ERR Unknown command.\r\n']).at(-1), { failure: 'protocol' });
    assert.deepStrictEqual(steps({}, ['+OK [XCLIENT] ready\r\n', '-ERR Invalid parameters\r\n']).at(-1), { failure: 'config' });
  });

  it('an endless line from the backend is a protocol failure', () => {
    assert.deepStrictEqual(steps({}, ['+OK ready\r\n', 'x'.repeat(70_000)]).at(-1), { failure: 'protocol' });
  });

  it('nothing after the outcome is acted on', () => {
    const out = steps({}, ['+OK ready\r\n', '+OK\r\n-ERR [AUTH] no\r\n+OK Logged in.\r\n']);
    assert.deepStrictEqual(out.slice(1), [{ failure: 'authRefused' }]);
  });
});
