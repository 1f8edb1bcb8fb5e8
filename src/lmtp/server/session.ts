import type { Authenticator } from '../../auth/index.js';
import type { Logger } from '../../log/index.js';
import type { Connection } from '../../net/index.js';
import { resolveRoute } from '../../proxy/index.js';
import { LmtpCommandReader, type LmtpCommand, type LmtpReadResult } from '../wire/index.js';
import { LmtpBackend, type BackendAnswer } from './backend.js';
import { R } from './replies.js';

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
  log: Logger;
  onClose?: () => void;
}

/** An accepted recipient: where it went, and the backend's own RCPT reply. */
interface Recipient {
  path: string;
  backend: string;
}

/** The mail transaction (RFC 5321 §3.3), one backend session per host:port (reference 2.3). */
interface Transaction {
  from: string;
  recipients: Recipient[];
  backends: Map<string, LmtpBackend | Promise<BackendAnswer | { kind: 'open'; backend: LmtpBackend }>>;
}

type State =
  | { kind: 'greeted' }
  | { kind: 'ready' }
  | { kind: 'mail'; tx: Transaction }
  | { kind: 'data'; tx: Transaction; live: LmtpBackend[]; failed: Map<string, BackendAnswer>; bytes: number; tooBig: boolean }
  | { kind: 'closed' };

const LMTP_DEFAULT_PORT = 24;

/** One client connection to the LMTP proxy front (RFC 2033), an MTA delivering mail. */
export class LmtpSession {
  readonly #conn: Connection;
  readonly #opts: LmtpSessionOptions;
  readonly #reader = new LmtpCommandReader();
  #state: State = { kind: 'greeted' };
  /** A command is being answered: input waits (the socket is paused). */
  #busy = false;
  /** The client's LHLO domain, forwarded as XCLIENT HELO. */
  #helo = '';

  constructor(conn: Connection, opts: LmtpSessionOptions) {
    this.#conn = conn;
    this.#opts = opts;
  }

  start(): void {
    const s = this.#conn.socket;
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
    this.#send(`220 ${this.#opts.hostname} postern LMTP ready`);
  }

  /** Stop now: backends with an unfinished body are dropped before their final dot, so nothing half-sent is delivered. */
  destroy(reason: string): void {
    this.#end(reason, false);
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
    this.#opts.log.info({ event: 'lmtp_disconnect', session: this.#opts.session, reason }, 'LMTP session ended');
    this.#opts.onClose?.();
  }

  #send(line: string | Buffer): void {
    if (this.#state.kind === 'closed') return;
    this.#conn.socket.write(typeof line === 'string' ? `${line}\r\n` : line);
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
            this.#opts.log.error({ session: this.#opts.session, err }, 'LMTP session failed');
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
        this.#send(`250-${this.#opts.hostname}\r\n250-8BITMIME\r\n250-ENHANCEDSTATUSCODES\r\n250-PIPELINING\r\n250 SIZE ${this.#opts.maxMessageBytes}`);
        return undefined;
      case 'MAIL': {
        if (st.kind === 'greeted') return void this.#send(R.lhloFirst);
        if (st.kind === 'mail') return void this.#send(R.nestedMail);
        for (const p of c.params) {
          if (p.keyword === 'SIZE' && p.value !== undefined && /^\d+$/.test(p.value)) {
            if (Number(p.value) > this.#opts.maxMessageBytes) return void this.#send(R.tooBigDeclared);
          } else if (!(p.keyword === 'BODY' && (p.value === '7BIT' || p.value === '8BITMIME'))) {
            return void this.#send(R.badParam(p.keyword));
          }
        }
        this.#state = { kind: 'mail', tx: { from: c.path, recipients: [], backends: new Map() } };
        return void this.#send(R.mailOk);
      }
      case 'RCPT':
        if (st.kind !== 'mail') return void this.#send(st.kind === 'greeted' ? R.lhloFirst : R.mailFirst);
        if (c.params.length > 0) return void this.#send(R.badParam(c.params[0]!.keyword));
        return this.#rcpt(st.tx, c.path);
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

  /** One passdb lookup per RCPT, without a password (reference 2.3); 250 only once the backend said so. */
  async #rcpt(tx: Transaction, rcpt: string): Promise<void> {
    const c = this.#conn;
    const result = await this.#opts.authenticator.lookupUser!({
      service: 'lmtp', mech: '', user: rcpt, remoteIp: c.remoteIp, remotePort: c.remotePort,
      localIp: c.localIp, localPort: c.localPort, secured: c.secured, session: this.#opts.session,
    });
    if (this.#state.kind !== 'mail' || this.#state.tx !== tx) return; // the client left meanwhile: open nothing
    if (result.kind === 'tempFail') return this.#send(R.lookupTempFail(rcpt));
    if (result.kind === 'fail') return this.#send(R.unknownUser(rcpt));
    const route = resolveRoute({
      user: result.user, fields: result.fields, defaultPort: LMTP_DEFAULT_PORT,
      defaultTimeoutMs: this.#opts.proxyTimeoutMs, isSelf: this.#opts.isSelf,
    });
    switch (route.kind) {
      case 'local':
      case 'referral': // host without proxy: Dovecot delivers locally
        return this.#send(R.localDelivery);
      case 'nologin':
        return this.#send(R.loginDisabled);
      case 'loop':
        return this.#send(R.loop);
      case 'invalid':
        this.#opts.log.warn({ session: this.#opts.session, rcpt, detail: route.detail }, 'unusable passdb fields for LMTP recipient');
        return this.#send(R.internal);
      case 'proxy':
        break;
      default: {
        const never: never = route;
        return never;
      }
    }
    const t = route.target;
    const key = `${t.host}:${t.port}:${t.tls}`;
    let entry = tx.backends.get(key);
    if (entry === undefined) {
      const xclient = t.notTrusted ? undefined : {
        HELO: this.#helo, PROTO: 'LMTP', SESSION: this.#opts.session, TTL: String(this.#opts.proxyTtl - 1),
        TIMEOUT: String(Math.ceil(t.timeoutMs / 1000)), ...(c.remoteIp ? { ADDR: c.remoteIp, PORT: String(c.remotePort) } : {}),
        ...(c.localIp ? { DESTADDR: c.localIp, DESTPORT: String(c.localPort) } : {}),
      };
      const tls = t.tls === 'none' ? undefined : { mode: t.tls, verifyCert: t.verifyCert, ...(this.#opts.backendCa ? { ca: this.#opts.backendCa } : {}) };
      entry = LmtpBackend.open({ host: t.host, port: t.port, timeoutMs: t.timeoutMs, lhlo: this.#opts.hostname, ...(xclient ? { xclient } : {}), ...(tls ? { tls } : {}) }, tx.from);
      tx.backends.set(key, entry);
    }
    const opened = entry instanceof LmtpBackend ? { kind: 'open' as const, backend: entry } : await entry;
    if (opened.kind !== 'open') return this.#sendAnswer(opened);
    tx.backends.set(key, opened.backend);
    if (this.#state.kind !== 'mail' || this.#state.tx !== tx) return; // RSET or disconnect meanwhile
    const answer = await opened.backend.command(`RCPT TO:<${t.user}>`);
    if (answer.kind === 'reply' && answer.reply.code >= 200 && answer.reply.code < 300) {
      tx.recipients.push({ path: rcpt, backend: key });
      return this.#send(R.rcptOk);
    }
    this.#sendAnswer(answer);
  }

  /** A backend's reply as it came, or its failure in Dovecot's words. */
  #sendAnswer(a: BackendAnswer): void {
    if (a.kind === 'reply') this.#send(a.reply.raw);
    else this.#send(R.proxyFailed(a.reason, this.#opts.session));
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

  /** One reply per accepted recipient, in RCPT order, each the backend's own (RFC 2033 §4.2). */
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
    const lines: Array<string | Buffer> = [];
    for (const r of tx.recipients) {
      if (st.tooBig) {
        lines.push(R.tooBig);
        continue;
      }
      const a = answers.get(r.backend)?.shift() ?? st.failed.get(r.backend);
      if (a === undefined) lines.push(R.internal);
      else if (a.kind === 'reply' && st.failed.has(r.backend) && a.reply.code < 400) lines.push(R.internal);
      else if (a.kind === 'reply') lines.push(a.reply.raw);
      else lines.push(R.proxyFailed(a.reason, this.#opts.session));
    }
    for (const l of lines) this.#send(l);
    for (const b of tx.backends.values()) if (b instanceof LmtpBackend) b.quit();
    this.#state = { kind: 'ready' };
  }
}

function abortAll(tx: Transaction): void {
  for (const b of tx.backends.values()) {
    if (b instanceof LmtpBackend) b.abort();
    else void b.then((o) => o.kind === 'open' && o.backend.abort());
  }
}
