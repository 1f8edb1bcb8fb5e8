import type { Socket } from 'node:net';
import type { Authenticator } from '../../auth/index.js';
import type { Logger } from '../../log/index.js';
import { startServerTls, TLS_HANDSHAKE_TIMEOUT_MS, type Connection } from '../../net/index.js';
import { LmtpCommandReader, type LmtpCommand, type LmtpReadResult } from '../wire/index.js';
import { LmtpBackend, type BackendAnswer } from './backend.js';
import { lhloReply } from './lhlo.js';
import { checkMailParams, checkRcptParams, type RcptParams } from './params.js';
import { answerText, routeRecipient, type ClientView, type RcptDeps } from './rcpt.js';
import { R } from './replies.js';
import { abortAll, type Transaction } from './transaction.js';
import { parseXclient, type ForwardedClient } from './xclient-in.js';

export interface LmtpSessionOptions {
  authenticator: Authenticator;
  hostname: string;
  maxMessageBytes: number;
  idleTimeoutMs: number;
  /** Backend timeout when the passdb gives no proxy_timeout. */
  proxyTimeoutMs: number;
  /** host:port is one of our own listeners. */
  isSelf(host: string, port: number): boolean;
  session: string;
  /** CAs for verified backend TLS (proxy.ca_file); undefined means the system's. */
  backendCa?: Buffer;
  /** Proxy hop limit (proxy.ttl): backends get one less with XCLIENT TTL. */
  proxyTtl: number;
  /** login_trusted_networks: who may send XCLIENT and XRCPTFORWARD. */
  trustedNetworks?: { has(ip: string): boolean };
  /** lmtp.max_recipients: accepted recipients per transaction. */
  maxRecipients?: number;
  /** lmtp.max_bad_commands: 500/501/503 replies before 421. */
  maxBadCommands?: number;
  /** proxy.max_reconnects and proxy.reconnect_interval, for the backend connect. */
  maxReconnects?: number;
  /** proxy.source_ips: the address backend connects come from, per address family (the passdb's source_ip wins). */
  sourceIp?: (family: 4 | 6) => string | undefined;
  reconnectIntervalMs?: number;
  log: Logger;
  onClose?: () => void;
}

type State =
  | { kind: 'greeted' }
  | { kind: 'ready' }
  | { kind: 'mail'; tx: Transaction }
  | { kind: 'data'; tx: Transaction; live: LmtpBackend[]; failed: Map<string, BackendAnswer>; bytes: number; tooBig: boolean }
  | { kind: 'closed' };

/** Dovecot's SMTP_SERVER_DEFAULT_MAX_BAD_COMMANDS. */
const DEFAULT_MAX_BAD_COMMANDS = 10;
const DEFAULT_MAX_RECIPIENTS = 1000;

/** One client connection to the LMTP proxy front (RFC 2033), an MTA delivering mail. */
export class LmtpSession {
  readonly #conn: Connection<Socket>;
  readonly #opts: LmtpSessionOptions;
  readonly #reader = new LmtpCommandReader();
  /** The real peer (not a forwarded address) is in login_trusted_networks, as Dovecot checks it. */
  readonly #trusted: boolean;
  #state: State = { kind: 'greeted' };
  /** A command is being answered: input waits (the socket is paused). */
  #busy = false;
  /** The client's LHLO domain. */
  #helo = '';
  /** What a trusted proxy in front forwarded with XCLIENT; kept across later LHLOs. */
  #forwarded: ForwardedClient = {};
  #session: string;
  #log: Logger;
  #badCommands = 0;

  constructor(conn: Connection<Socket>, opts: LmtpSessionOptions) {
    this.#conn = conn;
    this.#opts = opts;
    this.#session = opts.session;
    this.#trusted = opts.trustedNetworks?.has(conn.remoteIp) ?? false;
    this.#log = opts.log.child({ session: this.#session, rip: conn.remoteIp });
  }

  start(): void {
    this.#attach(this.#conn.socket);
    this.#send(`220 ${this.#opts.hostname} postern LMTP ready`);
  }

  /** Stop now: backends with an unfinished body are dropped before their final dot, so nothing half-sent is delivered. */
  destroy(reason: string): void {
    this.#end(reason, false);
  }

  /** Stop with a 421 first (shutdown, kick): the MTA keeps the mail queued and tries later. */
  goodbye(reason: 'shutdown' | 'kicked'): void {
    this.#send(R.shutdown);
    this.#end(reason, true);
  }

  #attach(s: Socket): void {
    s.setTimeout(this.#opts.idleTimeoutMs, () => {
      this.#send(R.idle);
      this.#end('idle', true);
    });
    s.on('data', (chunk: Buffer) => {
      this.#reader.feed(chunk);
      this.#drive();
    });
    s.on('error', () => this.destroy('error'));
    s.on('close', () => this.destroy('disconnected'));
  }

  /** `graceful`: the last reply (221, 421) is flushed before the socket closes. */
  #end(reason: string, graceful: boolean): void {
    if (this.#state.kind === 'closed') return;
    const st = this.#state;
    this.#state = { kind: 'closed' };
    if (st.kind === 'mail' || st.kind === 'data') abortAll(st.tx);
    if (graceful) {
      const socket = this.#conn.socket;
      socket.end();
      setTimeout(() => socket.destroy(), 5000).unref(); // a peer that never closes its side
    } else this.#conn.socket.destroy();
    this.#log.info({ event: 'lmtp_disconnect', reason }, 'LMTP session ended');
    this.#opts.onClose?.();
  }

  #send(line: string | Buffer): void {
    if (this.#state.kind === 'closed') return;
    this.#conn.socket.write(typeof line === 'string' ? `${line}\r\n` : line);
    // Dovecot counts its own 500, 501 and 503 replies, and ends the session past the limit.
    if (typeof line !== 'string' || !/^50[013] /.test(line)) return;
    this.#log.debug({ event: 'lmtp_bad_command', reply: line }, 'invalid LMTP command');
    if (++this.#badCommands > (this.#opts.maxBadCommands ?? DEFAULT_MAX_BAD_COMMANDS)) {
      this.#log.info({ event: 'lmtp_bad_commands', count: this.#badCommands }, 'too many invalid LMTP commands');
      this.#send(R.tooManyBad);
      this.#end('too many invalid commands', true);
    }
  }

  /** Pulls and answers commands one at a time; while one is answered the socket is paused. */
  #drive(): void {
    if (this.#busy) return;
    for (;;) {
      if (this.#state.kind === 'closed') return;
      const r = this.#reader.next();
      if (r.kind === 'needMore') {
        this.#conn.socket.resume();
        return;
      }
      const pending = this.#handle(r);
      if (pending) {
        this.#busy = true;
        this.#conn.socket.pause();
        pending.then(
          () => {
            this.#busy = false;
            this.#drive();
          },
          (err: unknown) => {
            this.#log.error({ err }, 'LMTP session failed');
            this.#send(R.internal);
            this.#end('internal error', true);
          },
        );
        return;
      }
    }
  }

  #handle(r: Exclude<LmtpReadResult, { kind: 'needMore' }>): Promise<void> | undefined {
    switch (r.kind) {
      case 'data':
        return this.#body(r.bytes);
      case 'dataEnd':
        return this.#endData();
      case 'error':
        this.#send(r.code === 'lineTooLong' ? R.lineTooLong : R.badCommand);
        return undefined;
      case 'syntaxError':
        this.#send(R.syntax(r.message));
        return undefined;
      case 'command':
        return this.#command(r.command);
      default: {
        const never: never = r;
        return never;
      }
    }
  }

  #command(c: LmtpCommand): Promise<void> | undefined {
    const st = this.#state;
    switch (c.name) {
      case 'LHLO':
        if (st.kind === 'mail') abortAll(st.tx);
        this.#state = { kind: 'ready' };
        this.#helo = c.domain;
        this.#send(lhloReply({ hostname: this.#opts.hostname, maxMessageBytes: this.#opts.maxMessageBytes, starttls: this.#conn.tls !== undefined && !this.#conn.secured, trusted: this.#trusted }));
        return undefined;
      case 'MAIL': {
        if (st.kind === 'greeted') return void this.#send(R.lhloFirst);
        if (st.kind === 'mail') return void this.#send(R.nestedMail);
        const check = checkMailParams(c.params, this.#opts.maxMessageBytes);
        if (check.kind === 'refuse') return void this.#send(check.reply);
        this.#state = { kind: 'mail', tx: { from: c.path, recipients: [], backends: new Map() } };
        return void this.#send(R.mailOk);
      }
      case 'RCPT': {
        if (st.kind !== 'mail') return void this.#send(st.kind === 'greeted' ? R.lhloFirst : R.mailFirst);
        const check = checkRcptParams(c.params, this.#trusted);
        if (check.kind === 'refuse') return void this.#send(check.reply);
        if (st.tx.recipients.length >= (this.#opts.maxRecipients ?? DEFAULT_MAX_RECIPIENTS)) return void this.#send(R.tooManyRecipients);
        return this.#rcpt(st.tx, c.path, check.value);
      }
      case 'DATA':
        if (st.kind !== 'mail') return void this.#send(st.kind === 'greeted' ? R.lhloFirst : R.mailFirst);
        if (st.tx.recipients.length === 0) return void this.#send(R.noRecipients);
        return this.#startData(st.tx);
      case 'RSET':
        if (st.kind === 'mail') abortAll(st.tx);
        if (st.kind !== 'greeted') this.#state = { kind: 'ready' };
        return void this.#send(R.ok);
      case 'NOOP':
        return void this.#send(R.ok);
      case 'VRFY':
        return void this.#send(R.vrfy);
      case 'QUIT':
        this.#send(R.bye);
        this.#end('quit', true);
        return undefined;
      case 'STARTTLS':
        if (this.#conn.secured) return void this.#send(R.tlsActive);
        if (this.#conn.tls === undefined) return void this.#send(R.tlsUnavailable);
        return this.#startTls();
      case 'XCLIENT':
        return void this.#xclient(c.params);
      case 'unimplemented':
        return void this.#send(R.unimplemented);
      case 'unknown':
        return void this.#send(R.unknown);
      default: {
        const never: never = c;
        return never;
      }
    }
  }

  /** STARTTLS (RFC 3207 §4.2): what was pipelined after it is dropped, and the session starts over. */
  async #startTls(): Promise<void> {
    if (this.#state.kind === 'mail') abortAll(this.#state.tx);
    this.#reader.discardBuffered();
    this.#send(R.tlsGo);
    try {
      await startServerTls(this.#conn, TLS_HANDSHAKE_TIMEOUT_MS);
    } catch (err) {
      this.#log.info({ event: 'tls_handshake_failed', err: (err as Error).message }, 'TLS handshake failed');
      this.destroy('TLS handshake failed');
      return;
    }
    if (this.#state.kind === 'closed') return;
    this.#state = { kind: 'greeted' };
    this.#attach(this.#conn.socket);
  }

  /** XCLIENT from a trusted proxy in front (Dovecot smtp-server-cmd-xclient.c): a new greeting, LHLO again. */
  #xclient(params: Parameters<typeof parseXclient>[0]): void {
    if (!this.#trusted) {
      this.#log.warn({ event: 'lmtp_xclient_refused' }, 'XCLIENT from a peer outside login_trusted_networks');
      return this.#send(R.xclientUntrusted);
    }
    if (this.#state.kind === 'mail') return this.#send(R.xclientInTransaction);
    const parsed = parseXclient(params);
    if (parsed.kind === 'invalid') {
      this.#log.info({ event: 'lmtp_xclient_invalid', reply: parsed.reply }, 'invalid XCLIENT');
      return this.#send(parsed.reply);
    }
    const f = parsed.client;
    const ttl = f.ttl !== undefined ? Math.min(f.ttl, this.#forwarded.ttl ?? f.ttl) : this.#forwarded.ttl;
    this.#forwarded = { ...this.#forwarded, ...f, ...(ttl !== undefined ? { ttl } : {}) };
    if (f.session !== undefined) this.#session = f.session;
    const v = this.#client();
    this.#log = this.#opts.log.child({ session: this.#session, rip: v.ip });
    this.#log.info({ event: 'lmtp_xclient', peer: this.#conn.remoteIp, addr: v.ip, port: v.port, helo: this.#forwarded.helo, proto: v.proto, ttl: v.ttl }, 'client forwarded with XCLIENT');
    this.#state = { kind: 'greeted' };
    this.#send(`220 ${this.#opts.hostname} postern LMTP ready`);
  }

  /** The MTA as logs, passdb and backends see it. */
  #client(): ClientView {
    const f = this.#forwarded;
    return {
      ip: f.addr ?? this.#conn.remoteIp,
      port: f.port ?? this.#conn.remotePort,
      helo: f.helo ?? this.#helo,
      proto: f.proto ?? 'LMTP',
      ...(f.login !== undefined ? { login: f.login } : {}),
      session: this.#session,
      // Dovecot's lmtp-proxy.c: a forwarded TTL is used as it is; without one, ours.
      ttl: Math.min(f.ttl ?? this.#opts.proxyTtl, this.#opts.proxyTtl),
    };
  }

  async #rcpt(tx: Transaction, rcpt: string, params: RcptParams): Promise<void> {
    const o = this.#opts;
    const deps: RcptDeps = {
      authenticator: o.authenticator, conn: this.#conn, hostname: o.hostname, proxyTimeoutMs: o.proxyTimeoutMs, isSelf: o.isSelf,
      maxReconnects: o.maxReconnects ?? 0, reconnectIntervalMs: o.reconnectIntervalMs ?? 0, log: this.#log, ...(o.sourceIp ? { sourceIp: o.sourceIp } : {}), ...(o.backendCa ? { backendCa: o.backendCa } : {}),
    };
    const current = () => this.#state.kind === 'mail' && this.#state.tx === tx;
    const reply = await routeRecipient(deps, this.#client(), tx, rcpt, params, current);
    if (reply !== undefined) this.#send(reply);
  }

  async #startData(tx: Transaction): Promise<void> {
    const failed = new Map<string, BackendAnswer>();
    const live: LmtpBackend[] = [];
    const used = new Set(tx.recipients.map((r) => r.backend));
    await Promise.all([...used].map(async (key) => {
      const b = tx.backends.get(key) as LmtpBackend;
      const a = await b.command('DATA');
      if (a.kind === 'reply' && a.reply.code === 354) live.push(b);
      else {
        failed.set(key, a);
        b.abort();
      }
    }));
    if (this.#state.kind !== 'mail') return;
    this.#state = { kind: 'data', tx, live, failed, bytes: 0, tooBig: false };
    this.#reader.beginData();
    this.#send(R.dataGo);
  }

  /** Streams a piece of the body to every backend; the client waits while any backend's buffer is full. */
  #body(bytes: Buffer): Promise<void> | undefined {
    const st = this.#state;
    if (st.kind !== 'data' || st.tooBig) return undefined;
    st.bytes += bytes.length;
    if (st.bytes > this.#opts.maxMessageBytes) {
      st.tooBig = true;
      for (const b of st.live) b.abort();
      return undefined;
    }
    const full = st.live.filter((b) => !b.write(bytes));
    if (full.length === 0) return undefined;
    return Promise.all(full.map((b) => new Promise<void>((resolve) => b.onceDrain(resolve)))).then(() => undefined);
  }

  /** One reply per accepted recipient, in RCPT order, each the backend's own (RFC 2033 §4.2), and one log line each. */
  async #endData(): Promise<void> {
    const st = this.#state;
    if (st.kind !== 'data') return;
    const { tx } = st;
    const answers = new Map<string, BackendAnswer[]>();
    if (!st.tooBig) {
      await Promise.all([...tx.backends].map(async ([key, b]) => {
        if (!(b instanceof LmtpBackend) || st.failed.has(key) || !st.live.includes(b)) return;
        answers.set(key, await b.endData(tx.recipients.filter((r) => r.backend === key).length));
      }));
    }
    if (this.#state !== st) return; // the client left meanwhile
    for (const r of tx.recipients) {
      let line: string | Buffer;
      const a = st.tooBig ? undefined : answers.get(r.backend)?.shift() ?? st.failed.get(r.backend);
      if (st.tooBig) line = R.tooBig;
      else if (a === undefined) line = R.internal;
      else if (a.kind === 'reply' && st.failed.has(r.backend) && a.reply.code < 400) line = R.internal;
      else line = answerText(a, this.#session);
      const text = (typeof line === 'string' ? line : line.toString('utf8')).split('\r\n')[0]!;
      const code = Number(text.slice(0, 3));
      this.#log.info({ event: 'lmtp_delivery', from: tx.from, rcpt: r.path, backend: r.where, code, reply: text, size: st.bytes }, code < 300 ? 'delivered' : 'not delivered');
      this.#send(line);
    }
    for (const b of tx.backends.values()) if (b instanceof LmtpBackend) b.quit();
    this.#state = { kind: 'ready' };
  }
}
