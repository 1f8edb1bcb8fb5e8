import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { AuthPolicy, Authenticator } from '../auth/index.js';
import type { SaslServerMechanism } from '../auth/sasl/index.js';
import type { Logger } from '../log/index.js';
import type { Connection } from '../net/index.js';
import { failLine, handshakeText, LineFramer, parseClientLine, type ClientCommand, type MechanismInfo } from './codec.js';
import { COMMANDS } from './commands/index.js';
import type { AuthCommand, AuthConnectionContext, ConnectionState } from './context.js';
import { MAX_LINE_BYTES } from './limits.js';
import { AuthExchange } from './request.js';

export interface AuthConnectionOptions {
  authenticator: Authenticator;
  /** The offered mechanisms, by upper-case name, in the order they are announced. */
  mechanisms: ReadonlyMap<string, SaslServerMechanism>;
  /** Failure delay and per-address penalty. */
  policy: AuthPolicy;
  /** login_trusted_networks: their clients are exempt from the penalty. */
  trustedNetworks?: { has(ip: string): boolean };
  log: Logger;
  /** Connection id (Dovecot's CUID), unique in this process. */
  cuid: number;
  onClose?: () => void;
}

/** After a protocol error the client gets this long to read what we sent before the socket goes. */
const CLOSE_GRACE_MS = 1000;

function mechanismInfo(m: SaslServerMechanism): MechanismInfo {
  return { name: m.name, flags: m.flags };
}

/**
 * One client of the auth service (a Postfix smtpd process, an Exim authentication): the
 * handshake at once on connect, then any number of requests, several at a time, each answered
 * when it is done. A broken client closes its own connection and nothing else.
 */
export class AuthClientConnection implements AuthConnectionContext {
  readonly #conn: Connection<Socket>;
  readonly #opts: AuthConnectionOptions;
  readonly #framer = new LineFramer();
  readonly #requests = new Map<number, AuthExchange>();
  readonly #abort = new AbortController();
  readonly log: Logger;
  #state: ConnectionState = { kind: 'handshake' };
  #closeNotified = false;

  constructor(conn: Connection<Socket>, opts: AuthConnectionOptions) {
    this.#conn = conn;
    this.#opts = opts;
    this.log = opts.log.child({ cuid: opts.cuid, listener: conn.listener, ...(conn.remoteIp ? { peer: conn.remoteIp } : {}) });
  }

  get state(): ConnectionState {
    return this.#state;
  }
  get requestCount(): number {
    return this.#requests.size;
  }

  start(): void {
    const socket = this.#conn.socket;
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.log.debug({ event: 'auth_client_error', err: err.message }, 'socket error'));
    socket.once('close', () => this.#onClosed());
    // Everything at once, before the client says anything: Exim reads up to DONE first.
    this.send(
      handshakeText({
        mechanisms: [...this.#opts.mechanisms.values()].map(mechanismInfo),
        spid: process.pid,
        cuid: this.#opts.cuid,
        cookie: randomBytes(16).toString('hex'),
      }),
    );
    this.log.debug({ event: 'auth_client_connected' }, 'auth client connected');
  }

  setState(state: Extract<ConnectionState, { kind: 'ready' }>): void {
    if (this.#state.kind === 'handshake' || this.#state.kind === 'ready') this.#state = state;
  }

  mechanism(name: string): SaslServerMechanism | undefined {
    return this.#opts.mechanisms.get(name.toUpperCase());
  }

  request(id: number): AuthExchange | undefined {
    return this.#requests.get(id);
  }

  startRequest(cmd: AuthCommand, mech: SaslServerMechanism, initial: Buffer | null): void {
    const o = this.#opts;
    const exchange = new AuthExchange(cmd.id, mech, cmd.params, {
      authenticator: o.authenticator,
      policy: o.policy,
      ...(o.trustedNetworks ? { trustedNetworks: o.trustedNetworks } : {}),
      signal: this.#abort.signal,
      log: this.log,
      send: (line) => this.send(line),
      finished: (id) => this.#finished(id),
      clientReadsTemp: () => this.#state.kind === 'ready' && this.#state.minor >= 1,
      closeForTempFail: (id) => this.#drain(`request ${id} failed temporarily and this client (protocol 1.0: Postfix, Exim) reads a closed connection as "try again later" but a FAIL as "wrong password"`, true),
    });
    this.#requests.set(cmd.id, exchange);
    this.track(cmd.id, exchange.start(initial));
  }

  track(id: number, work: Promise<void>): void {
    work.catch((err: unknown) => this.#internalError(id, err));
  }

  dropRequest(id: number): void {
    this.#requests.get(id)?.cancel();
    this.#finished(id);
  }

  send(line: string): void {
    const socket = this.#conn.socket;
    if (this.#state.kind !== 'closed' && !socket.destroyed && socket.writable) socket.write(line);
  }

  protocolError(message: string): void {
    if (this.#state.kind === 'closed') return;
    this.log.warn({ event: 'auth_client_protocol_error', detail: message }, `auth client broke the protocol: ${message}; closing its connection`);
    this.#shut();
  }

  /** Stops reading; the connection ends when the requests in flight have answered. Idempotent. */
  close(): void {
    this.#drain('server shutting down');
  }

  /** Ends the connection now; requests in flight get no answer. Idempotent. */
  destroy(): void {
    this.#state = { kind: 'closed' };
    this.#cancelAll();
    this.#conn.socket.destroy();
  }

  #onData(chunk: Buffer): void {
    for (const ev of this.#framer.feed(chunk)) {
      if (this.#state.kind === 'closed' || this.#state.kind === 'draining') return;
      if (ev.kind === 'tooLong') return this.protocolError(`line longer than ${MAX_LINE_BYTES} bytes`);
      this.#dispatch(ev.text);
    }
  }

  #dispatch(line: string): void {
    const parsed = parseClientLine(line);
    switch (parsed.kind) {
      case 'protocolError':
        return this.protocolError(parsed.message);
      case 'requestError':
        if (!this.#allowed('AUTH')) return;
        if (this.#requests.has(parsed.id)) return this.protocolError(`duplicate request id ${parsed.id}`);
        this.log.info({ event: 'auth_request_refused', id: parsed.id, detail: parsed.message }, 'bad AUTH request');
        return this.send(failLine(parsed.id, { reason: `Invalid AUTH request: ${parsed.message}` }));
      case 'command':
        if (!this.#allowed(parsed.command.kind)) return;
        return COMMANDS.get(parsed.command.kind)!.run(this, parsed.command);
      default: {
        const never: never = parsed;
        throw new Error(`unhandled line ${JSON.stringify(never)}`);
      }
    }
  }

  /** Whether `name` may come now; if not, the connection closes with a reason naming the order. */
  #allowed(name: ClientCommand['kind']): boolean {
    const desc = COMMANDS.get(name)!;
    const kind = this.#state.kind;
    if (desc.states.includes(kind)) return true;
    this.protocolError(kind === 'handshake' ? `${name} before VERSION` : `${name} not allowed now (${name === 'VERSION' ? 'sent twice' : kind})`);
    return false;
  }

  #finished(id: number): void {
    this.#requests.delete(id);
    if (this.#state.kind === 'draining' && this.#requests.size === 0) this.#shut();
  }

  /**
   * `reset`: if nothing else is in flight, end with a TCP reset rather than a FIN. Postfix 3.7
   * reconnects only when a write fails; after a FIN its next AUTH is still written into the dead
   * connection and fails too, after a reset that write fails and it reconnects at once.
   */
  #drain(reason: string, reset = false): void {
    if (this.#state.kind === 'closed' || this.#state.kind === 'draining') return;
    this.log.info({ event: 'auth_client_closing', reason }, 'closing the auth client connection');
    this.#state = { kind: 'draining', reason };
    this.#conn.socket.pause();
    // A request waiting for the client's CONT would wait for input we no longer read.
    for (const [id, r] of this.#requests) {
      if (r.awaitingResponse) {
        r.cancel();
        this.#requests.delete(id);
      }
    }
    if (this.#requests.size > 0) return;
    if (reset) this.#reset();
    else this.#shut();
  }

  /** Ends the socket after what was written has gone out, and drops whatever is still running. */
  #shut(): void {
    this.#state = { kind: 'closed' };
    this.#cancelAll();
    const socket = this.#conn.socket;
    socket.end();
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
  }

  #reset(): void {
    this.#state = { kind: 'closed' };
    this.#cancelAll();
    const socket = this.#conn.socket;
    try {
      socket.resetAndDestroy();
    } catch {
      socket.destroy(); // a unix socket has no reset; there a write to the closed peer fails anyway
    }
  }

  /** A bug in a request (never the client's input): logged with its stack, and this connection closed. */
  #internalError(id: number, err: unknown): void {
    this.log.error({ event: 'internal_error', id, err: err instanceof Error ? { message: err.message, stack: err.stack } : String(err) }, 'internal error in an auth request; closing the connection');
    this.#requests.delete(id);
    this.#shut();
  }

  #cancelAll(): void {
    this.#abort.abort();
    for (const r of this.#requests.values()) r.cancel();
    this.#requests.clear();
  }

  #onClosed(): void {
    if (this.#state.kind !== 'closed') this.#state = { kind: 'closed' };
    this.#cancelAll();
    this.log.debug({ event: 'auth_client_disconnected' }, 'auth client disconnected');
    if (!this.#closeNotified) {
      this.#closeNotified = true;
      this.#opts.onClose?.();
    }
  }
}
