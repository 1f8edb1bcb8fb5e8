import { connect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { noteSocketFailure } from '../../net/index.js';
import { backendEndpoint } from '../../proxy/index.js';
import { LmtpReplyReader, type LmtpReply } from '../wire/index.js';
import { xclientCommands, type XclientAttr } from './xclient.js';

/** Why a backend session stopped, in Dovecot's words for `451 4.4.0 Proxy failed (<why>, ...)` (reference 2.3). */
export type BackendFailureReason = 'connect' | 'connection lost' | 'bad reply' | 'timed out';
export interface BackendFailure {
  kind: 'failed';
  reason: BackendFailureReason;
}
export type BackendAnswer = { kind: 'reply'; reply: LmtpReply } | BackendFailure;

export interface BackendOptions {
  host: string;
  port: number;
  /** Our address for the connect (passdb source_ip). */
  localAddress?: string;
  /** Otherwise one from proxy.source_ips, of the family of the backend's address once resolved. */
  sourceIp?: (family: 4 | 6) => string | undefined;
  /** Resolves a backend host name (the system's resolver unless a test gives its own). */
  resolve?: (host: string) => Promise<string>;
  /** Each wait for a reply (and the connect) gives up after this (passdb proxy_timeout). */
  timeoutMs: number;
  /** Our name in LHLO. */
  lhlo: string;
  /** The client's attributes, sent with XCLIENT when the backend offers it; absent for proxy_not_trusted. */
  xclient?: Partial<Record<XclientAttr, string>>;
  /** passdb ssl=yes (implicit) or starttls=yes (RFC 3207 on LMTP); `verifyCert` false for any-cert. */
  tls?: { mode: 'implicit' | 'starttls'; verifyCert: boolean; ca?: Buffer };
  /** proxy.max_reconnects: further attempts when the TCP connect itself fails. */
  maxReconnects?: number;
  reconnectIntervalMs?: number;
  onRetry?: (attempt: number, reason: BackendFailureReason) => void;
}

/** As for IMAP and POP3 (proxy/connect.ts): no reconnect when less than this is left of the timeout. */
const MIN_TIME_LEFT_FOR_RETRY_MS = 1100;

/**
 * One LMTP client session to a backend (RFC 2033), used for one mail transaction: replies are
 * matched to commands in order (RFC 2920 §3.1), so commands may be pipelined. Expected
 * outcomes are values: a failure is returned, never thrown, and after one every call fails alike.
 */
export class LmtpBackend {
  #socket: Socket;
  readonly #timeoutMs: number;
  readonly #reader = new LmtpReplyReader();
  readonly #waiting: Array<(a: BackendAnswer) => void> = [];
  #failed: BackendFailure | undefined;
  #connected = false;
  /** The TCP connection was made (before any TLS): a failure after it is not retried. */
  #tcpUp = false;
  /** Extensions from the LHLO reply, upper-cased keywords. */
  extensions = new Set<string>();

  /** `address` is the host resolved; the host name stays the TLS server name. */
  private constructor(opts: BackendOptions, address: string, localAddress: string | undefined) {
    this.#timeoutMs = opts.timeoutMs;
    const implicit = opts.tls?.mode === 'implicit';
    const where = { host: address, port: opts.port, ...(localAddress ? { localAddress } : {}) };
    this.#socket = implicit ? tlsConnect({ ...where, ...tlsOptions(opts) }) : connect(where);
    this.#socket.once(implicit ? 'secureConnect' : 'connect', () => (this.#connected = true));
    this.#socket.once('connect', () => (this.#tcpUp = true));
    this.#wire();
  }

  #wire(): void {
    const s = this.#socket;
    s.setNoDelay(true);
    s.setTimeout(this.#timeoutMs, () => this.#fail('timed out'));
    s.on('data', (chunk: Buffer) => this.#onData(chunk));
    s.on('error', (err: NodeJS.ErrnoException) => {
      // A socket that could not be made (EMFILE): the process is out of descriptors, as for an IMAP or POP3 backend.
      noteSocketFailure(err.code);
      this.#fail(this.#connected ? 'connection lost' : 'connect');
    });
    s.on('close', () => this.#fail(this.#connected ? 'connection lost' : 'connect'));
  }

  /** STARTTLS (RFC 3207 §4): after its 220, the plain socket carries TLS; nothing read before it is kept. */
  async #startTls(opts: BackendOptions): Promise<BackendAnswer> {
    if (!this.extensions.has('STARTTLS')) {
      this.#fail('connect');
      return this.#failed!;
    }
    const r = await this.command('STARTTLS');
    if (r.kind === 'failed' || r.reply.code !== 220) return r;
    const plain = this.#socket;
    plain.removeAllListeners('data').removeAllListeners('error').removeAllListeners('close').removeAllListeners('timeout');
    this.#reader.takeBuffered();
    this.#socket = tlsConnect({ socket: plain, ...tlsOptions(opts) });
    this.#wire();
    return this.command(`LHLO ${opts.lhlo}`);
  }

  /**
   * Connects, reads the greeting, says LHLO and gives MAIL FROM. Any refusal is the backend's
   * reply. A TCP connect that fails is tried again, reconnectIntervalMs apart, up to
   * maxReconnects times while the timeout allows.
   */
  static async open(opts: BackendOptions, mailFrom: string): Promise<{ kind: 'open'; backend: LmtpBackend } | BackendAnswer> {
    const deadline = Date.now() + opts.timeoutMs;
    const interval = opts.reconnectIntervalMs ?? 0;
    let endpoint: { address: string; source: string | undefined };
    try {
      endpoint = await backendEndpoint(opts.host, opts.localAddress, opts.sourceIp, opts.resolve);
    } catch {
      return { kind: 'failed', reason: 'connect' };
    }
    const { address, source: localAddress } = endpoint;
    for (let attempt = 1; ; attempt++) {
      const { result, tcpUp } = await LmtpBackend.#openOnce(opts, address, localAddress, mailFrom);
      const retry = result.kind === 'failed' && result.reason === 'connect' && !tcpUp && attempt <= (opts.maxReconnects ?? 0)
        && deadline - Date.now() >= MIN_TIME_LEFT_FOR_RETRY_MS + interval;
      if (!retry) return result;
      opts.onRetry?.(attempt, 'connect');
      await new Promise((r) => setTimeout(r, interval));
    }
  }

  static async #openOnce(opts: BackendOptions, address: string, localAddress: string | undefined, mailFrom: string): Promise<{ result: { kind: 'open'; backend: LmtpBackend } | BackendAnswer; tcpUp: boolean }> {
    const b = new LmtpBackend(opts, address, localAddress);
    const result = await b.#handshake(opts, mailFrom);
    return { result, tcpUp: b.#tcpUp };
  }

  async #handshake(opts: BackendOptions, mailFrom: string): Promise<{ kind: 'open'; backend: LmtpBackend } | BackendAnswer> {
    const greeting = await this.#next();
    if (greeting.kind === 'failed' || greeting.reply.code !== 220) return this.#refused(greeting);
    let lhlo = await this.command(`LHLO ${opts.lhlo}`);
    if (lhlo.kind === 'failed' || lhlo.reply.code !== 250) return this.#refused(lhlo);
    this.#setExtensions(lhlo.reply);
    if (opts.tls?.mode === 'starttls') {
      lhlo = await this.#startTls(opts);
      if (lhlo.kind === 'failed' || lhlo.reply.code !== 250) return this.#refused(lhlo);
    }
    const xclient = opts.xclient ? xclientCommands(lhlo.reply.lines, opts.xclient) : [];
    if (xclient.length > 0) {
      for (const line of xclient) {
        const r = await this.command(line);
        if (r.kind === 'failed' || r.reply.code >= 400) return this.#refused(r);
      }
      // XCLIENT resets the session (Postfix XCLIENT_README): greet again, with our own name as
      // Dovecot's lib-smtp does (smtp_client_connection_handshake). The MTA's HELO went with XCLIENT.
      lhlo = await this.command(`LHLO ${opts.lhlo}`);
      if (lhlo.kind === 'failed' || lhlo.reply.code !== 250) return this.#refused(lhlo);
    }
    this.#setExtensions(lhlo.reply);
    const mail = await this.command(`MAIL FROM:<${mailFrom}>${this.extensions.has('8BITMIME') ? ' BODY=8BITMIME' : ''}`);
    if (mail.kind === 'failed' || mail.reply.code !== 250) return this.#refused(mail);
    return { kind: 'open', backend: this };
  }

  #setExtensions(lhlo: LmtpReply): void {
    this.extensions = new Set(lhlo.lines.slice(1).map((l) => l.split(' ')[0]!.toUpperCase()));
  }

  get failure(): BackendFailure | undefined {
    return this.#failed;
  }

  /** Sends one command line (without CRLF) and waits for its reply. */
  command(line: string): Promise<BackendAnswer> {
    if (this.#failed) return Promise.resolve(this.#failed);
    this.#socket.write(`${line}\r\n`);
    return this.#next();
  }

  /** Body bytes, dot-stuffed as they came. False: wait for `drain`. */
  write(bytes: Buffer): boolean {
    if (this.#failed) return true;
    return this.#socket.write(bytes);
  }

  onceDrain(fn: () => void): void {
    if (this.#failed || !this.#socket.writableNeedDrain) fn();
    else {
      const done = () => {
        this.#socket.off('drain', done).off('close', done);
        fn();
      };
      this.#socket.on('drain', done).on('close', done);
    }
  }

  /** Ends the body with the dot line and reads one reply per accepted recipient (RFC 2033 §4.2). */
  async endData(recipients: number): Promise<BackendAnswer[]> {
    if (this.#failed) return Array<BackendAnswer>(recipients).fill(this.#failed);
    this.#socket.write('.\r\n');
    const out: BackendAnswer[] = [];
    for (let i = 0; i < recipients; i++) out.push(await this.#next());
    return out;
  }

  /** After the transaction: QUIT and close, without waiting. */
  quit(): void {
    if (!this.#failed) this.#socket.end('QUIT\r\n');
    this.#failed ??= { kind: 'failed', reason: 'connection lost' };
    this.#socket.setTimeout(5000, () => this.#socket.destroy());
  }

  /** Drop the connection now: an unfinished body is never terminated, so nothing is delivered. */
  abort(): void {
    this.#fail('connection lost');
  }

  #refused(a: BackendAnswer): BackendAnswer {
    this.abort();
    return a;
  }

  #next(): Promise<BackendAnswer> {
    if (this.#failed) return Promise.resolve(this.#failed);
    return new Promise((resolve) => {
      this.#waiting.push(resolve);
      this.#pull();
    });
  }

  #onData(chunk: Buffer): void {
    this.#reader.feed(chunk);
    this.#pull();
  }

  #pull(): void {
    while (this.#waiting.length > 0 && !this.#failed) {
      const r = this.#reader.next();
      if (r.kind === 'needMore') return;
      if (r.kind === 'error') return this.#fail('bad reply');
      this.#waiting.shift()!({ kind: 'reply', reply: r.reply });
    }
  }

  #fail(reason: BackendFailureReason): void {
    if (!this.#failed) this.#failed = { kind: 'failed', reason };
    this.#socket.destroy();
    for (const w of this.#waiting.splice(0)) w(this.#failed);
  }
}

function tlsOptions(opts: BackendOptions): ConnectionOptions {
  const t = opts.tls!;
  return { ...(isIP(opts.host) === 0 ? { servername: opts.host } : {}), rejectUnauthorized: t.verifyCert, ...(t.ca ? { ca: t.ca } : {}) };
}
