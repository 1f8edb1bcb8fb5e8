import { oauthbearerClientResponse, oauthErrorAcknowledgement, plainClientResponse, xoauth2ClientResponse } from '../auth/sasl/index.js';
import { drainResponses, failureStep, type BackendLogin, type BackendTarget, type LoginStep, type ProxyFailure } from '../proxy/index.js';
import { Pop3ResponseReader, type Pop3Response } from './wire/index.js';

/** The client identity forwarded in XCLIENT (Dovecot 2.3.21's keys). */
export interface Pop3ForwardInfo {
  session: string;
  clientIp: string;
  clientPort: number;
  /** Already decremented: what the backend gets as TTL. */
  ttl: number;
}

export interface Pop3BackendLoginOptions {
  target: BackendTarget;
  forward: Pop3ForwardInfo;
}

/** A command sent, and what its reply means. */
type Expect = 'stls' | 'xclient' | 'user' | 'final';
interface Pending {
  expect: Expect;
  line: string;
}

/** Dovecot's XCLIENT line limit (src/pop3-login/pop3-proxy.c). */
const MAX_XCLIENT_BYTES = 1024;

/**
 * Logs in to a POP3 backend as Dovecot's pop3-proxy does (shared/reference 2.2): banner, STLS
 * if asked, XCLIENT when the banner says `+OK [XCLIENT]` and the backend is trusted, then
 * USER/PASS, or AUTH PLAIN for a master user or proxy_mech. Everything after the banner (or after
 * STLS) goes in one burst, PASS after USER's `+OK` unless the connection acknowledges at once;
 * with proxy_nopipelining each command waits for its `+OK`.
 */
export class Pop3BackendLogin implements BackendLogin {
  readonly #o: Pop3BackendLoginOptions;
  #reader = new Pop3ResponseReader();
  #phase: 'banner' | 'commands' | 'done' = 'banner';
  #xclient = false;
  #tls = false;
  #quickAck = false;
  /** Sent, waiting for their replies, in order. */
  readonly #sent: Expect[] = [];
  /** Not yet sent (proxy_nopipelining). */
  #queue: Pending[] = [];
  /** XOAUTH2/OAUTHBEARER: a `+` after the token is the backend's JSON error, answered once. */
  #oauthMech: 'XOAUTH2' | 'OAUTHBEARER' | undefined;

  constructor(opts: Pop3BackendLoginOptions) {
    this.#o = opts;
  }

  onConnected(tls: boolean, quickAck: boolean): LoginStep[] {
    this.#tls = tls;
    this.#quickAck = quickAck;
    // After STLS: bytes read before the handshake were not protected; start clean (RFC 2595 §4).
    if (this.#phase === 'commands' && tls) {
      this.#reader = new Pop3ResponseReader();
      return this.#startLogin();
    }
    return [];
  }

  onData(chunk: Buffer): LoginStep[] {
    this.#reader.feed(chunk);
    return drainResponses(
      () => this.#reader.next(),
      (r) => this.#handle(r),
      () => this.#phase === 'done',
      (detail) => this.#fail('protocol', detail),
    );
  }

  #fail(kind: ProxyFailure['kind'], detail: string, remoteReply?: string): LoginStep {
    this.#phase = 'done';
    return failureStep(kind, detail, remoteReply);
  }

  #handle(resp: Pop3Response): LoginStep[] {
    if (this.#phase === 'banner') {
      if (resp.status !== 'ok') return [this.#fail('protocol', `Invalid banner: ${resp.line.slice(0, 160)}`)];
      this.#phase = 'commands';
      // Dovecot's extension: a backend that trusts us says so in its greeting.
      this.#xclient = resp.code === 'XCLIENT';
      if (this.#o.target.tls === 'starttls' && !this.#tls) return this.#send([{ expect: 'stls', line: 'STLS\r\n' }], 1);
      return this.#startLogin();
    }
    const expect = this.#sent.shift();
    switch (expect) {
      case 'stls':
        // Dovecot's "STLS failed" is a remote failure: the client gets [SYS/TEMP], as for IMAP's refused STARTTLS.
        if (resp.status !== 'ok') return [this.#fail('protocol', `STLS failed: ${resp.line.slice(0, 160)}`)];
        return [{ kind: 'starttls' }];
      case 'xclient':
        if (resp.status !== 'ok') return [this.#fail('config', `XCLIENT failed: ${resp.line.slice(0, 160)}`)];
        return this.#next();
      case 'user':
        return resp.status === 'ok' ? this.#next() : [this.#refused(resp)];
      case 'final':
        if (resp.status === 'continue' && this.#oauthMech !== undefined) {
          // RFC 7628 §3.2.3: acknowledge the error challenge; the -ERR follows.
          const ack = oauthErrorAcknowledgement(this.#oauthMech);
          this.#oauthMech = undefined;
          this.#sent.unshift('final');
          return [{ kind: 'write', data: `${ack.length === 0 ? '' : ack.toString('base64')}\r\n` }];
        }
        if (resp.status === 'continue') return [this.#fail('protocol', 'unexpected SASL challenge after the initial response')];
        if (resp.status !== 'ok') return [this.#refused(resp)];
        this.#phase = 'done';
        // The backend's "+OK Logged in." goes to the client as it came.
        return [{ kind: 'success', clientReply: resp.raw, leftover: this.#reader.takeBuffered() }];
      case undefined:
        return [this.#fail('protocol', `unexpected line from backend: ${resp.line.slice(0, 160)}`)];
      default: {
        const never: never = expect;
        throw new Error(`unknown expectation ${String(never)}`);
      }
    }
  }

  /** The commands after the banner (or STLS): [XCLIENT], then USER+PASS or AUTH. */
  #startLogin(): LoginStep[] {
    const t = this.#o.target;
    const cmds: Pending[] = [];
    if (this.#xclient && !t.notTrusted) {
      const f = this.#o.forward;
      const line = `XCLIENT ADDR=${f.clientIp} PORT=${f.clientPort} SESSION=${f.session} TTL=${f.ttl}\r\n`;
      if (Buffer.byteLength(line) > MAX_XCLIENT_BYTES || /[\s\0]/.test(`${f.clientIp}${f.session}`)) return [this.#fail('internal', 'XCLIENT values cannot be sent')];
      cmds.push({ expect: 'xclient', line });
    }
    const password = t.password?.reveal() ?? '';
    const mech = t.mech ?? (t.master !== undefined ? 'PLAIN' : undefined);
    if (mech !== undefined && mech !== 'PLAIN' && !((mech === 'XOAUTH2' || mech === 'OAUTHBEARER') && t.master === undefined)) {
      return [this.#fail('config', `proxy_mech ${mech}${t.master !== undefined ? ' with a master user' : ''} is not supported`)];
    }
    const unsafe = /[\r\n\0]/;
    if (t.user.includes('\0') || password.includes('\0')) return [this.#fail('internal', 'the user name or password contains NUL and cannot be sent')];
    if (mech === 'XOAUTH2' || mech === 'OAUTHBEARER') {
      // The forwarded password is the client's bearer token.
      this.#oauthMech = mech;
      const ir = mech === 'XOAUTH2' ? xoauth2ClientResponse(t.user, password) : oauthbearerClientResponse(t.user, password, t.host, t.port);
      cmds.push({ expect: 'final', line: `AUTH ${mech} ${ir.toString('base64')}\r\n` });
    } else if (mech === undefined && !unsafe.test(t.user) && !unsafe.test(password)) {
      cmds.push({ expect: 'user', line: `USER ${t.user}\r\n` }, { expect: 'final', line: `PASS ${password}\r\n` });
    } else {
      // RFC 5034 AUTH PLAIN with an initial response; also carries a CR or LF USER/PASS cannot. Master: authzid = user.
      const ir = t.master !== undefined ? plainClientResponse(t.master, password, t.user) : plainClientResponse(t.user, password);
      cmds.push({ expect: 'final', line: `AUTH PLAIN ${ir.length === 0 ? '=' : ir.toString('base64')}\r\n` });
    }
    if (t.nopipelining) return this.#send(cmds, 1);
    /*
     * PASS waits for USER's +OK unless the connection acknowledges at once: Dovecot's pop3 process
     * writes `+OK Logged in.` with Nagle's algorithm on, after pop3-login's unacknowledged replies to
     * XCLIENT and USER, and would wait for Linux's delayed ACK (40 ms) of a proxy with nothing to send.
     * PASS itself is that ACK, as in Dovecot's proxy (bench/RESULTS.md items 51, 52).
     */
    const user = cmds.findIndex((c) => c.expect === 'user');
    return this.#send(cmds, user < 0 || this.#quickAck ? cmds.length : user + 1);
  }

  /** Writes the first `count` commands in one burst (RFC 2449 §6.6); each of the rest waits for the reply before it. */
  #send(cmds: Pending[], count: number): LoginStep[] {
    const now = cmds.slice(0, count);
    this.#queue = cmds.slice(count);
    this.#sent.push(...now.map((c) => c.expect));
    return [{ kind: 'write', data: now.map((c) => c.line).join('') }];
  }

  #next(): LoginStep[] {
    const c = this.#queue.shift();
    if (!c) return [];
    this.#sent.push(c.expect);
    return [{ kind: 'write', data: c.line }];
  }

  /**
   * A refused USER, PASS or AUTH (reference 2.2 step 6): `[SYS/TEMP]` is temporary (may
   * reconnect); `[AUTH]`, no code, or not even "-ERR " becomes our own "[AUTH] Authentication
   * failed." so a backend's wording cannot tell which users exist; other codes ([IN-USE],
   * [LOGIN-DELAY], ...) go to the client as they came.
   */
  #refused(resp: Pop3Response): LoginStep {
    const line = resp.line;
    const code = resp.code;
    if (resp.status === 'err' && (code === 'SYS/TEMP' || code?.startsWith('SYS/TEMP/'))) return this.#fail('authTempFail', `backend temporary failure: ${line}`, line);
    if (resp.status !== 'err' || code === undefined || code === 'AUTH' || code.startsWith('AUTH/')) return this.#fail('authRefused', `backend refused the login: ${line.slice(0, 160)}`);
    return this.#fail('remoteCode', `backend refused the login: ${line}`, line);
  }
}
