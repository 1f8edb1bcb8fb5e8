import { oauthbearerClientResponse, oauthErrorAcknowledgement, plainClientResponse, xoauth2ClientResponse } from '../auth/sasl/index.js';
import { drainResponses, failureStep, type BackendLogin, type BackendTarget, type LoginStep, type ProxyFailure } from '../proxy/index.js';
import { capabilityText, formatCommand, formatCommandParts, formatIdList, hasCapability, ImapResponseReader, type ImapResponse, type LiteralMode } from './wire/index.js';

/** The client identity forwarded in ID (Dovecot 2.3's keys). */
export interface ImapForwardInfo {
  session: string;
  clientIp: string;
  clientPort: number;
  localIp: string;
  localPort: number;
  /** Already decremented: what the backend gets as x-proxy-ttl. */
  ttl: number;
}

export interface ImapBackendLoginOptions {
  target: BackendTarget;
  clientTag: string;
  /** The client sent CAPABILITY before login and may ignore resp-codes: reply with `* CAPABILITY`. */
  clientAskedCapability: boolean;
  forward: ImapForwardInfo;
}

type Phase = 'banner' | 'starttls' | 'capability' | 'id' | 'login' | 'postCapability' | 'done';

/**
 * Logs in to an IMAP backend as Dovecot's imap-proxy does (shared/reference 2.1): fixed tags
 * I (ID), S (STARTTLS), C (CAPABILITY), L (LOGIN/AUTHENTICATE); pipelined unless told not to.
 */
export class ImapBackendLogin implements BackendLogin {
  readonly #o: ImapBackendLoginOptions;
  readonly #reader = new ImapResponseReader();
  #phase: Phase = 'banner';
  /** The backend's capabilities, as text (names separated by single spaces). */
  #caps: string | undefined;
  #tls = false;
  /** Base64 response to send when the backend answers AUTHENTICATE with `+` (no SASL-IR). */
  #pendingSasl: string | undefined;
  /** The mechanism of our AUTHENTICATE: a `+` after an OAuth token is the backend's JSON error. */
  #saslMech: string | undefined;
  #errorAcknowledged = false;
  #loginText = 'Logged in';

  constructor(opts: ImapBackendLoginOptions) {
    this.#o = opts;
  }

  onConnected(tls: boolean): LoginStep[] {
    this.#tls = tls;
    if (this.#phase === 'starttls') {
      // Capabilities seen before TLS cannot be trusted: ask again.
      this.#caps = undefined;
      this.#phase = 'capability';
      return [{ kind: 'write', data: 'C CAPABILITY\r\n' }];
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

  #handle(resp: ImapResponse): LoginStep[] {
    if (this.#phase === 'banner') return this.#onBanner(resp);
    if (resp.tag === '*') return this.#onUntagged(resp);
    if (resp.tag === '+') {
      if (this.#phase === 'login' && this.#pendingSasl !== undefined) {
        const data = this.#pendingSasl;
        this.#pendingSasl = undefined;
        return [{ kind: 'write', data: `${data}\r\n` }];
      }
      // RFC 7628 §3.2.3: the client answers the error challenge, then the server says NO.
      if (this.#phase === 'login' && (this.#saslMech === 'XOAUTH2' || this.#saslMech === 'OAUTHBEARER') && !this.#errorAcknowledged) {
        this.#errorAcknowledged = true;
        const ack = oauthErrorAcknowledgement(this.#saslMech);
        return [{ kind: 'write', data: `${ack.length === 0 ? '' : ack.toString('base64')}\r\n` }];
      }
      return [];
    }
    switch (resp.tag) {
      case 'I':
        return this.#phase === 'id' ? this.#writeLogin() : [];
      case 'S':
        // Dovecot's "remote" failure: [UNAVAILABLE] to the client, not [SERVERBUG].
        if (resp.status !== 'OK') return [this.#fail('protocol', `STARTTLS failed: ${resp.raw.toString('utf8').trim()}`)];
        return [{ kind: 'starttls' }];
      case 'C':
        if (resp.status !== 'OK' || this.#caps === undefined) return [this.#fail('protocol', 'CAPABILITY failed')];
        return this.#phase === 'postCapability' ? [this.#success()] : this.#afterCapabilities();
      case 'L':
        return this.#onLoginReply(resp);
      default:
        // Dovecot logs "Unexpected input, ignoring" and goes on.
        return [];
    }
  }

  #onBanner(resp: ImapResponse): LoginStep[] {
    if (resp.tag !== '*' || resp.status !== 'OK') return [this.#fail('protocol', 'Invalid banner')];
    if (resp.code === 'CAPABILITY') this.#caps = capabilityText(resp.codeText ?? '');
    if (this.#o.target.tls === 'starttls' && !this.#tls) {
      if (this.#caps !== undefined && !hasCapability(this.#caps, 'STARTTLS')) return [this.#fail('config', 'STARTTLS not supported by the backend')];
      this.#phase = 'starttls';
      return [{ kind: 'write', data: 'S STARTTLS\r\n' }];
    }
    return this.#afterCapabilities();
  }

  #onUntagged(resp: ImapResponse): LoginStep[] {
    // "* BYE" is a status response (no untaggedName): not for the client, the tagged reply decides.
    if (resp.status === 'BYE') return [];
    switch (resp.untaggedName) {
      case 'CAPABILITY':
        this.#caps = capabilityText(resp.text);
        return [];
      case 'ID':
        return [];
      default:
        return [{ kind: 'forward', data: resp.raw }];
    }
  }

  #afterCapabilities(): LoginStep[] {
    if (this.#caps === undefined) {
      this.#phase = 'capability';
      return [{ kind: 'write', data: 'C CAPABILITY\r\n' }];
    }
    const steps: LoginStep[] = [];
    const t = this.#o.target;
    if (!t.notTrusted && hasCapability(this.#caps, 'ID')) {
      const idCommand = this.#idCommand({ literalPlus: hasCapability(this.#caps, 'LITERAL+') });
      if (idCommand === undefined) return [this.#fail('internal', 'the forwarded client identity cannot be sent in an IMAP ID')];
      steps.push({ kind: 'write', data: idCommand });
      if (t.nopipelining) {
        this.#phase = 'id';
        return steps;
      }
    }
    return [...steps, ...this.#writeLogin()];
  }

  #writeLogin(): LoginStep[] {
    const t = this.#o.target;
    const caps = this.#caps ?? '';
    this.#phase = 'login';
    const password = t.password?.reveal() ?? '';
    if (t.master !== undefined || t.mech !== undefined) {
      const mech = t.mech ?? 'PLAIN';
      // The password forwarded with XOAUTH2/OAUTHBEARER is the client's bearer token.
      let ir: Buffer;
      if (mech === 'PLAIN') ir = t.master !== undefined ? plainClientResponse(t.master, password, t.user) : plainClientResponse(t.user, password);
      else if (mech === 'XOAUTH2' && t.master === undefined) ir = xoauth2ClientResponse(t.user, password);
      else if (mech === 'OAUTHBEARER' && t.master === undefined) ir = oauthbearerClientResponse(t.user, password, t.host, t.port);
      else return [this.#fail('config', `proxy_mech ${mech}${t.master !== undefined ? ' with a master user' : ''} is not supported`)];
      return this.#authenticate(mech, ir, caps);
    }
    if (hasCapability(caps, 'LOGINDISABLED') && !this.#tls) return [this.#fail('config', 'LOGINDISABLED advertised, but SSL/TLS not enabled')];
    const mode = { literalPlus: hasCapability(caps, 'LITERAL+') || hasCapability(caps, 'LITERAL-') };
    let parts: (string | Buffer)[];
    try {
      parts = formatCommandParts('L', 'LOGIN', [{ kind: 'astring', value: t.user }, { kind: 'astring', value: password }], mode);
    } catch {
      return [this.#fail('internal', 'the user name or password cannot be sent in an IMAP LOGIN')];
    }
    // A synchronizing literal would cost a round trip per value; AUTHENTICATE PLAIN carries any bytes in one line.
    if (parts.length > 1) return this.#authenticate('PLAIN', plainClientResponse(t.user, password), caps);
    return [{ kind: 'write', data: parts[0]! }];
  }

  /** ID with the client's identity, Dovecot 2.3's keys in its order; undefined if it cannot be sent. */
  #idCommand(mode: LiteralMode): string | Buffer | undefined {
    const f = this.#o.forward;
    const id = formatIdList([
      ['x-session-id', f.session],
      ['x-originating-ip', f.clientIp],
      ['x-originating-port', String(f.clientPort)],
      ['x-connected-ip', f.localIp],
      ['x-connected-port', String(f.localPort)],
      ['x-proxy-ttl', String(f.ttl)],
    ]);
    try {
      return formatCommand('I', 'ID', [id], mode);
    } catch {
      return undefined;
    }
  }

  #authenticate(mech: string, ir: Buffer, caps: string): LoginStep[] {
    this.#saslMech = mech;
    const b64 = ir.length === 0 ? '=' : ir.toString('base64');
    if (hasCapability(caps, 'SASL-IR')) return [{ kind: 'write', data: `L AUTHENTICATE ${mech} ${b64}\r\n` }];
    this.#pendingSasl = b64;
    return [{ kind: 'write', data: `L AUTHENTICATE ${mech}\r\n` }];
  }

  #onLoginReply(resp: ImapResponse): LoginStep[] {
    if (resp.status === 'OK') {
      this.#loginText = resp.text || 'Logged in';
      if (resp.code === 'CAPABILITY') {
        this.#caps = capabilityText(resp.codeText ?? '');
        return [this.#success()];
      }
      // The backend did not say its post-login capabilities: ask, so the client sees them.
      this.#phase = 'postCapability';
      return [{ kind: 'write', data: 'C CAPABILITY\r\n' }];
    }
    const line = resp.raw.toString('utf8').replace(/\r?\n$/, '').slice(2);
    const code = resp.code;
    if (code === undefined || code === 'AUTHENTICATIONFAILED') return [this.#fail('authRefused', `backend refused the login: ${line}`)];
    if (code === 'UNAVAILABLE') return [this.#fail('authTempFail', `backend temporary failure: ${line}`, line)];
    if (code === 'SERVERBUG') return [this.#fail('config', `backend reported a server bug: ${line}`)];
    return [this.#fail('remoteCode', `backend refused the login: ${line}`, line)];
  }

  #success(): LoginStep {
    this.#phase = 'done';
    const caps = this.#caps ?? '';
    const tag = this.#o.clientTag;
    const reply = this.#o.clientAskedCapability ? `* CAPABILITY ${caps}\r\n${tag} OK ${this.#loginText}\r\n` : `${tag} OK [CAPABILITY ${caps}] ${this.#loginText}\r\n`;
    return { kind: 'success', clientReply: reply, leftover: this.#reader.takeBuffered() };
  }
}
