import { Aborter, type AbortLike } from '../core/index.js';
import type { Logger } from '../log/index.js';
import { endSocket, NativeSocket, startServerTls, TLS_HANDSHAKE_TIMEOUT_MS, type AnySocket, type Connection, type NativeSocketEvents } from '../net/index.js';
import { joinSockets, type Pipe, type PipeEnd, type RelayMode } from '../proxy/index.js';
import { ClientIdentity } from './client-identity.js';
import type { EndReason, SessionInfo } from './registry.js';
import { newSessionId } from './session-id.js';
import type { LoginOutcome } from './types.js';

/** What the protocol session does with its connection's events. */
export interface FrontInput {
  /** Bytes from the client before login. */
  onData(chunk: Buffer): void;
  /** Input was paused for work (a login, a TLS handshake) and flows again: read what is buffered. */
  onResume(): void;
  /** login_timeout passed: say goodbye, then `close()`. */
  onLoginTimeout(): void;
}

export interface FrontConnectionOptions {
  protocol: 'imap' | 'pop3';
  log: Logger;
  loginTimeoutMs: number;
  idleTimeoutMs: number;
  proxyTtl: number;
  /** How a proxied session's bytes move (proxy.relay). */
  relay?: RelayMode;
  /** Told once when the session is over, for the registry; a proxied session brings its byte counts. */
  onClose?: (end?: { bytesIn: number; bytesOut: number }) => void;
}

type Phase = { kind: 'open' } | { kind: 'proxying'; pipe: Pipe; user: string; backend: string } | { kind: 'closed' };

/**
 * The protocol-independent half of a login session (IMAP, POP3): the socket and its events,
 * the login timer, input paused while a login runs, STARTTLS/STLS in place, the hand-over to
 * the pipe with the bytes each side already sent, and the one `session_end` log line.
 */
export class FrontConnection {
  readonly conn: Connection;
  readonly identity: ClientIdentity;
  readonly started = Date.now();
  readonly #opts: FrontConnectionOptions;
  #input: FrontInput | undefined;
  #id = newSessionId();
  #log: Logger;
  #phase: Phase = { kind: 'open' };
  #busy = false;
  #endReason = 'client disconnected';
  #loginTimer: NodeJS.Timeout | undefined;
  /** Abandons a backend login under way when the client leaves or postern stops; made when a login asks. */
  #abort: Aborter | undefined;

  /** The options every protocol session passes the same way, from its deps and its own login timeout. */
  static forSession(protocol: FrontConnectionOptions['protocol'], conn: Connection, deps: { log: Logger; idleTimeoutMs: number; proxyTtl: number; relay?: RelayMode }, loginTimeoutMs: number, onClose?: FrontConnectionOptions['onClose']): FrontConnection {
    return new FrontConnection(conn, { protocol, log: deps.log, loginTimeoutMs, idleTimeoutMs: deps.idleTimeoutMs, proxyTtl: deps.proxyTtl, relay: deps.relay, onClose });
  }

  constructor(conn: Connection, opts: FrontConnectionOptions) {
    this.conn = conn;
    this.#opts = opts;
    this.identity = new ClientIdentity(conn, opts.proxyTtl);
    this.#log = opts.log.child({ session: this.#id, rip: conn.remoteIp, listener: conn.listener });
  }

  /** Our session id, or the one a trusted proxy in front forwarded. */
  get id(): string {
    return this.#id;
  }
  get log(): Logger {
    return this.#log;
  }
  get signal(): AbortLike {
    return (this.#abort ??= new Aborter());
  }
  /** Before login and not closed: commands may be read. */
  get open(): boolean {
    return this.#phase.kind === 'open';
  }
  get closed(): boolean {
    return this.#phase.kind === 'closed';
  }
  /** A login or TLS handshake is under way; input waits. */
  get busy(): boolean {
    return this.#busy;
  }
  get secured(): boolean {
    return this.conn.secured;
  }
  /** The native relay can carry this connection after login: TLS only where the relay runs it itself. */
  get relayable(): boolean {
    return !this.conn.secured || this.conn.socket instanceof NativeSocket;
  }
  get tlsAvailable(): boolean {
    return this.conn.tls !== undefined;
  }

  start(input: FrontInput): void {
    this.#input = input;
    this.#attach(this.conn.socket);
    this.#loginTimer = setTimeout(() => input.onLoginTimeout(), this.#opts.loginTimeoutMs);
  }

  /** After a trusted proxy forwarded the client: logs and the backend see the forwarded values. */
  noteForwarded(): void {
    if (this.identity.session !== undefined && this.identity.session !== this.#id) this.#id = this.identity.session;
    this.#log = this.#opts.log.child({ session: this.#id, rip: this.identity.ip, listener: this.conn.listener });
  }

  write(data: string | Buffer): void {
    const s = this.conn.socket;
    if (this.#phase.kind === 'open' && !s.destroyed && s.writable) s.write(data);
  }

  /** Runs `work` with input paused; afterwards input flows again (if still before login). */
  run(work: Promise<void>, onError: (err: unknown) => void): void {
    this.#busy = true;
    this.conn.socket.pause();
    work
      .catch(onError)
      .finally(() => {
        this.#busy = false;
        if (this.#phase.kind !== 'open') return;
        // What was read before the pause first; then the socket, which may start the next command.
        this.#input?.onResume();
        if (!this.#busy && this.#phase.kind === 'open') this.conn.socket.resume();
      });
  }

  /**
   * Upgrades to TLS in place (RFC 3207 §4.2 style: the caller has already dropped whatever the
   * client pipelined in the clear). False when the handshake failed and the session is closed.
   */
  async startTls(): Promise<boolean> {
    this.#detach(this.conn.socket);
    try {
      await startServerTls(this.conn, TLS_HANDSHAKE_TIMEOUT_MS);
    } catch (err) {
      this.#log.info({ event: 'tls_handshake_failed', err: (err as Error).message }, 'TLS handshake failed');
      this.close('TLS handshake failed');
      return false;
    }
    this.#attach(this.conn.socket);
    return true;
  }

  /**
   * Joins client and backend after a proxied login: the backend's reply goes to the client
   * first, then bytes flow untouched. `pipelined` is what the client sent after its login command.
   */
  handOver(outcome: Extract<LoginOutcome, { kind: 'proxied' }>, pipelined: Buffer): void {
    if (this.#phase.kind !== 'open') {
      outcome.socket.destroy();
      outcome.release?.();
      return;
    }
    this.#stopLoginTimer();
    const client = this.conn.socket;
    this.#detach(client);
    // What only the time before login needed goes now: an idle proxied session holds the pipe, the
    // socket and the strings of its end line.
    this.#input = undefined;
    this.#abort = undefined;
    // The backend's untagged lines, the login reply and what followed it: one write to the client.
    const reply = Buffer.concat([...outcome.forwarded, typeof outcome.clientReply === 'string' ? Buffer.from(outcome.clientReply) : outcome.clientReply]);
    const backend = `${outcome.target.host}:${outcome.target.port}`;
    const pipe = joinSockets(client, outcome.socket, {
      idleTimeoutMs: this.#opts.idleTimeoutMs,
      relay: this.#opts.relay,
      onRelayError: (message) => this.#log.warn({ event: 'relay_fallback', err: message }, 'the native relay refused the session; it goes on through the JavaScript pipe'),
      reply,
      beforeBackend: pipelined,
      beforeClient: outcome.leftover,
      clientCloseDelay: outcome.clientCloseDelay,
    });
    const user = outcome.user;
    this.#phase = { kind: 'proxying', pipe, user, backend };
    // Only these stay referenced by the session's end: not the login outcome and its buffers.
    const release = outcome.release;
    void pipe.done.then((end) => this.#proxiedEnd(user, backend, end, release));
  }

  #proxiedEnd(user: string, backend: string, end: PipeEnd, release: (() => void) | undefined): void {
    this.#phase = { kind: 'closed' };
    release?.();
    this.#log.info(
      { event: 'session_end', user, backend, bytes_in: end.bytesIn, bytes_out: end.bytesOut, duration_ms: Date.now() - this.started, reason: end.reason },
      'session ended',
    );
    this.#opts.onClose?.(end);
  }

  #stopLoginTimer(): void {
    clearTimeout(this.#loginTimer);
    this.#loginTimer = undefined;
  }

  /**
   * A proxied session is ended now (kick, shutdown) with `farewell` as the client's last line;
   * false before login, where the protocol says goodbye itself.
   */
  endProxied(reason: EndReason, farewell: string): boolean {
    if (this.#phase.kind !== 'proxying') return false;
    this.#phase.pipe.destroy(reason, farewell);
    return true;
  }

  /** The session as `postern who` shows it. */
  info(): SessionInfo {
    const c = this.conn;
    const p = this.#phase;
    const proxying = p.kind === 'proxying';
    const bytes = proxying ? p.pipe.bytes() : { bytesIn: 0, bytesOut: 0 };
    return {
      id: this.#id,
      protocol: this.#opts.protocol,
      listener: c.listener,
      rip: this.identity.ip,
      rport: this.identity.port,
      lip: c.localIp,
      lport: c.localPort,
      state: proxying ? 'proxying' : 'login',
      ...(proxying ? { user: p.user, backend: p.backend } : {}),
      since: this.started,
      ...bytes,
    };
  }

  /** Ends the session before login: flushes what was written, then closes. */
  close(reason: string): void {
    if (this.#phase.kind !== 'open') return;
    endSocket(this.conn.socket);
    this.#finish(reason);
  }

  #finish(reason: string): void {
    if (this.#phase.kind !== 'open') return;
    this.#phase = { kind: 'closed' };
    this.#stopLoginTimer();
    this.#abort?.abort();
    this.#log.info({ event: 'session_end', duration_ms: Date.now() - this.started, reason }, 'session ended before login');
    this.#opts.onClose?.();
  }

  #attach(socket: AnySocket): void {
    if (socket instanceof NativeSocket) return socket.setEvents(this.#nativeEvents());
    socket.on('data', this.#onData);
    socket.on('error', this.#onError);
    socket.on('close', this.#onSocketClose);
  }
  #detach(socket: AnySocket): void {
    if (socket instanceof NativeSocket) return socket.stopEvents();
    socket.off('data', this.#onData);
    socket.off('error', this.#onError);
    socket.off('close', this.#onSocketClose);
  }
  /** A native connection's events: as a net.Socket's, where an error is also the close. */
  #nativeEvents(): NativeSocketEvents {
    return {
      connected: () => {},
      data: this.#onData,
      closed: this.#onSocketClose,
      error: (err) => {
        this.#onError(err);
        this.#onSocketClose();
      },
    };
  }
  readonly #onData = (chunk: Buffer): void => {
    if (this.#phase.kind === 'open') this.#input?.onData(chunk);
  };
  readonly #onError = (err: Error): void => {
    this.#endReason = `client error: ${err.message}`;
  };
  readonly #onSocketClose = (): void => {
    this.#finish(this.#endReason);
  };
}
