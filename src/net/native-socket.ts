import { closeSync } from 'node:fs';
import { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { joinChunks, PosternError } from '../core/index.js';
import type { DialTls } from './backend-tls.js';
import { noteSocketFailure } from './descriptors.js';
import { nativeAddon, type NativeRelay } from './native.js';

const DE_CONNECTED = 1;
const DE_DATA = 2;
const DE_END = 3;
const DE_ERROR = 4;
const DE_SECURE = 5;

/** How long end() waits for a peer that reads nothing, or does not close its side, before it closes anyway. */
export const END_MAX_MS = 5000;

/** A Node socket (plain or TLS), or a connection the native relay opened or accepted. */
export type AnySocket = Socket | NativeSocket;

/** The connection as a net.Socket: a native one is handed over to one (toSocket), a Node one is itself. */
export function nodeSocket(s: AnySocket): Socket {
  return s instanceof NativeSocket ? s.toSocket() : s;
}

/** Whether the connection's TLS handshake resumed a session; undefined for a connection in the clear. */
export function tlsResumed(s: AnySocket): boolean | undefined {
  if (s instanceof NativeSocket) return s.tlsResumed;
  return s instanceof TLSSocket ? s.isSessionReused() : undefined;
}

/** What a native connection tells the code that reads it. */
export interface NativeSocketEvents {
  /** A dial connected (an accepted connection never says it). */
  connected(): void;
  data(chunk: Buffer): void;
  /** The peer closed the connection; nothing follows. */
  closed(): void;
  /** `err.code` is the errno's name (ECONNREFUSED); nothing follows. */
  error(err: NodeJS.ErrnoException): void;
}

/** An Error as Node's sockets make them: "connect ECONNREFUSED 127.0.0.1:143", code ECONNREFUSED. */
function errnoError(message: string, code: string | undefined): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(message);
  if (code) err.code = code;
  return err;
}

/** The addon's words for an error: "<operation> <errno name>", or "tls <what OpenSSL said>" (no errno). */
function addonError(what: string, where: string): NodeJS.ErrnoException {
  if (what.startsWith(CERT_REFUSED)) return errnoError(`${what.slice(CERT_REFUSED.length)} (${where})`, 'CERT_NOT_ACCEPTED');
  return errnoError(`${what} ${where}`, what.startsWith('tls ') ? undefined : what.split(' ')[1]);
}

/** How the relay says a backend's certificate failed verification; what follows is OpenSSL's reason. */
const CERT_REFUSED = 'tls handshake: certificate not accepted: ';

/** A TLS handshake under way: settled by `secure`, an error or the peer's close, or its timer. */
interface Handshake {
  resolve(serverName: string | undefined): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
}

/**
 * A TCP connection held by the native relay (native/relay.c) rather than by a net.Socket, in the clear
 * or in the relay's TLS (native/tls.c): a backend it dialled for a login (`open`), or a client a
 * native listener accepted (`accepted`). The login runs on it as on a net.Socket (the chunks it reads,
 * the writes it makes), and the relay then takes it as it is. A proxied login saves a net.Socket a
 * side, its stream machinery and a dup (bench/RESULTS.md, items 24 to 28).
 *
 * Where the session needs a net.Socket after all (the JavaScript pipe, Node's TLS), toSocket() gives
 * the connection to one, with what was read and not taken and what was not written yet.
 */
export class NativeSocket {
  readonly #relay: NativeRelay;
  #handle: object | undefined;
  #events: NativeSocketEvents | undefined;
  #corked: (string | Buffer)[] | undefined;
  /** Chunks read once the reader stopped listening, before the relay or a net.Socket took over. */
  #unread: Buffer[] = [];
  /** address:port of the peer, for error messages as Node words them ("connect ECONNREFUSED 127.0.0.1:143"). */
  readonly #where: string;
  #handshake: Handshake | undefined;
  /** TLS is in place (native/tls.c): the relay reads and writes through it. */
  #encrypted = false;
  /** A dial with TLS from the start (ssl=yes): `connected` waits for the handshake. */
  #connectTls = false;
  /** Told once when the connection is no longer this object's (closed, or taken by the relay or a net.Socket). */
  onGone: (() => void) | undefined;

  private constructor(relay: NativeRelay, where: string, events: NativeSocketEvents | undefined) {
    this.#relay = relay;
    this.#events = events;
    this.#where = where;
  }

  /**
   * Starts connecting to `address` (an IP literal) from `source`, or returns undefined when the addon
   * is not there. Throws, with the errno's name as code, when the connection cannot even start.
   * With `tls` (ssl=yes), `connected` comes once the TLS handshake is over; a certificate refused is
   * an error whose code is CERT_NOT_ACCEPTED.
   */
  static open(address: string, port: number, source: string | undefined, events: NativeSocketEvents, tls?: DialTls): NativeSocket | undefined {
    const relay = nativeAddon();
    if (!relay) return undefined;
    const s = new NativeSocket(relay, `${address}:${port}`, events);
    try {
      s.#handle = relay.dial(address, port, source, s.#onEvent);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      noteSocketFailure(code);
      throw errnoError(`${(err as Error).message} ${s.#where}`, code);
    }
    if (tls) {
      s.#connectTls = true;
      // Refused (out of memory): no connection at all rather than one that is not in TLS.
      if (!relay.dialStartTls(s.#handle, tls.context, tls.servername, tls.verifyHost)) {
        s.destroy();
        throw errnoError(`tls setup failed ${s.#where}`, 'ENOMEM');
      }
    }
    return s;
  }

  /** A connection a native listener accepted: events go nowhere until setEvents(). */
  static accepted(relay: NativeRelay, handle: object, remoteIp: string, remotePort: number): NativeSocket {
    const s = new NativeSocket(relay, `${remoteIp}:${remotePort}`, undefined);
    s.#handle = handle;
    return s;
  }

  /** The function the addon calls with this connection's events. */
  get eventSink(): (kind: number, arg?: Buffer | string) => void {
    return this.#onEvent;
  }

  readonly #onEvent = (kind: number, arg?: Buffer | string): void => {
    const events = this.#events;
    if (kind === DE_END || kind === DE_ERROR) this.#gone();
    if (kind === DE_SECURE) this.#encrypted = true;
    const handshake = this.#handshake;
    if (handshake && (kind === DE_SECURE || kind === DE_END || kind === DE_ERROR)) {
      this.#handshake = undefined;
      clearTimeout(handshake.timer);
      if (kind === DE_SECURE) {
        handshake.resolve(arg as string | undefined);
      } else {
        handshake.reject(kind === DE_END ? new PosternError('POSTERN_TLS_HANDSHAKE', 'the connection closed during the TLS handshake') : addonError(String(arg), this.#where));
      }
      return;
    }
    if (!events) {
      // The peer's next bytes belong to the session, whoever carries it.
      if (kind === DE_DATA) this.#unread.push(arg as Buffer);
      return;
    }
    if (kind === DE_DATA) events.data(arg as Buffer);
    // A dial in TLS from the start is connected once its handshake is over.
    else if (kind === (this.#connectTls ? DE_SECURE : DE_CONNECTED)) events.connected();
    else if (kind === DE_END) events.closed();
    else if (kind === DE_ERROR) events.error(addonError(String(arg), this.#where));
  };

  /**
   * Settles once the TLS handshake the relay runs on this connection is over: with the server name
   * the client asked for (SNI), or rejected (the connection is closed then).
   */
  secured(timeoutMs: number): Promise<string | undefined> {
    if (this.#encrypted) return Promise.resolve(undefined);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#handshake = undefined;
        this.destroy();
        reject(new PosternError('POSTERN_TLS_HANDSHAKE', 'TLS handshake timed out'));
      }, timeoutMs).unref();
      this.#handshake = { resolve, reject, timer };
    });
  }

  /**
   * STARTTLS in the relay: what was written leaves in the clear, then the handshake runs (see
   * secured()). What the client sent after its command came in the clear and is dropped (RFC 3207
   * section 4.2 style injection); no data event comes before the handshake is over. On a backend's
   * connection, `backend` gives the client side's names (see open()).
   */
  startTls(tls: object, timeoutMs: number, backend?: Omit<DialTls, 'context'>): Promise<string | undefined> {
    this.uncork();
    this.#unread = [];
    const handle = this.#handle;
    if (!handle) return Promise.reject(new PosternError('POSTERN_TLS_HANDSHAKE', 'the connection closed before the TLS handshake'));
    const done = this.secured(timeoutMs);
    if (this.#relay.dialStartTls(handle, tls, backend?.servername, backend?.verifyHost)) return done;
    clearTimeout(this.#handshake?.timer);
    this.#handshake = undefined;
    this.destroy();
    return Promise.reject(new PosternError('POSTERN_TLS_HANDSHAKE', 'the connection cannot start TLS'));
  }

  /** TLS is in place (implicit, or after startTls). */
  get encrypted(): boolean {
    return this.#encrypted;
  }

  #gone(): void {
    if (this.#handle === undefined) return;
    this.#handle = undefined;
    const gone = this.onGone;
    this.onGone = undefined;
    gone?.();
  }

  get destroyed(): boolean {
    return this.#handle === undefined;
  }

  /** As net.Socket's: writes are taken (and otherwise dropped). */
  get writable(): boolean {
    return this.#handle !== undefined;
  }

  /** The local address of the connection, once connected. */
  get localAddress(): string | undefined {
    return this.#handle ? this.#relay.dialLocal(this.#handle) : undefined;
  }

  /** Whether the TLS handshake the relay ran resumed a session; undefined without TLS in place. */
  get tlsResumed(): boolean | undefined {
    return this.#handle ? this.#relay.dialResumed(this.#handle) : undefined;
  }

  /** Events go to `events` from now on; what was read meanwhile comes first. */
  setEvents(events: NativeSocketEvents): void {
    this.#events = events;
    const read = this.takeUnread();
    if (read) events.data(read);
  }

  /** No more events: the reader is done, one way or the other. */
  stopEvents(): void {
    this.#events = undefined;
  }

  write(data: string | Buffer): void {
    if (this.#corked) this.#corked.push(data);
    else if (this.#handle) this.#relay.dialSend(this.#handle, data);
  }

  /** Writes until uncork() leave in one system call, as with socket.cork(). */
  cork(): void {
    this.#corked ??= [];
  }

  uncork(): void {
    const parts = this.#corked;
    this.#corked = undefined;
    if (!parts || parts.length === 0) return;
    this.write(joinChunks(parts));
  }

  /** No data events until resume(). */
  pause(): void {
    if (this.#handle) this.#relay.dialPause(this.#handle);
  }

  /** Data events again: what waits in the socket is delivered before this returns. */
  resume(): void {
    if (this.#handle) this.#relay.dialResume(this.#handle);
  }

  /**
   * Writes `data` and what is still unsent, then a FIN, then closes at the peer's FIN, its input
   * read and dropped meanwhile (a lingering close: socket.end() and destroySoon() in one, without
   * the reset a close with input unread would cause); no event follows.
   */
  end(data?: string | Buffer): void {
    if (data !== undefined) this.write(data);
    this.uncork();
    const handle = this.#handle;
    if (!handle) return;
    this.#events = undefined;
    this.#gone();
    // A peer that reads nothing holds the rest for at most END_MAX_MS.
    if (!this.#relay.dialEnd(handle)) setTimeout(() => this.#relay.dialClose(handle), END_MAX_MS).unref();
  }

  /** Closes at once; no event follows. */
  destroy(): void {
    this.#events = undefined;
    const handle = this.#handle;
    this.#gone();
    if (handle) this.#relay.dialClose(handle);
    // A handshake under way fails now, rather than at its timer.
    if (this.#handshake) this.#onEvent(DE_END);
  }

  /** What was read after stopEvents(), for the other side ahead of what the relay reads; put back with unread(). */
  takeUnread(): Buffer | undefined {
    const chunks = this.#unread;
    if (chunks.length === 0) return undefined;
    this.#unread = [];
    return chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  }

  unread(chunk: Buffer): void {
    this.#unread.unshift(chunk);
  }

  /** For relay.adopt: the connection's handle, which the relay takes over (undefined once closed). */
  handle(): object | undefined {
    return this.#handle;
  }

  /** The relay took the connection: this object no longer owns it. */
  adopted(): void {
    this.#events = undefined;
    this.#gone();
  }

  /**
   * The connection as a net.Socket (for TLS, or the JavaScript pipe); this object no longer owns it.
   * A connection in TLS stays in the relay, which carries its plaintext to the net.Socket through a
   * pair of unix sockets.
   */
  toSocket(): Socket {
    const handle = this.#handle;
    this.#events = undefined;
    this.#gone();
    const read = this.takeUnread();
    const socket = handle ? (this.#encrypted ? this.#bridge(handle, read) : this.#detach(handle, read)) : undefined;
    if (socket) return socket;
    // Not open any more (the peer went meanwhile), or the relay could not take it: whoever reads it sees it closed.
    if (handle) this.#relay.dialClose(handle);
    const gone = new Socket();
    gone.destroy();
    return gone;
  }

  /** The descriptor itself goes to the net.Socket, with what was read and not taken and what was not written yet. */
  #detach(handle: object, read: Buffer | undefined): Socket | undefined {
    const unsent = this.#relay.dialPending(handle);
    const fd = this.#relay.dialDetach(handle);
    if (fd < 0) return undefined;
    // TCP_NODELAY is set on the descriptor already (relay.c sets it on every connection it opens or accepts).
    const socket = new Socket({ fd, readable: true, writable: true });
    if (read) socket.unshift(read);
    if (unsent) socket.write(unsent);
    return socket;
  }

  /** The relay keeps the TLS connection and carries its plaintext to the net.Socket over a socket pair. */
  #bridge(handle: object, read: Buffer | undefined): Socket | undefined {
    let pair: [number, number] | undefined;
    try {
      pair = this.#relay.socketPair();
      // What the client sent and nobody took goes first; what the connection had not written, to the client.
      this.#relay.adopt(handle, pair[0], 0, false, read, undefined, () => undefined);
    } catch {
      if (pair) closeSync(pair[1]);
      return undefined;
    } finally {
      // The relay holds its own duplicate.
      if (pair) closeSync(pair[0]);
    }
    return new Socket({ fd: pair[1], readable: true, writable: true });
  }
}
