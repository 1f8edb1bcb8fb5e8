import { Socket } from 'node:net';
import { nativeAddon, type NativeRelay } from './native.js';

const DE_CONNECTED = 1;
const DE_DATA = 2;
const DE_END = 3;
const DE_ERROR = 4;

/** What a backend connection tells the login that runs on it. */
export interface BackendEvents {
  connected(): void;
  data(chunk: Buffer): void;
  /** The backend closed the connection; nothing follows. */
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

/**
 * A plain TCP connection to a backend opened by the native relay (`dial` in native/relay.c), for a
 * login whose session the relay will carry: the login runs on it as on a net.Socket (the chunks it
 * reads, the writes it makes), and the relay then takes its descriptor as it is. A proxied login
 * saves a net.Socket, its stream machinery and a dup (bench/RESULTS.md, item 24).
 *
 * When the relay cannot take the session after all, toSocket() gives the connection to a net.Socket
 * for the JavaScript pipe.
 */
export class NativeBackend {
  readonly #relay: NativeRelay;
  #handle: object | undefined;
  #events: BackendEvents | undefined;
  #corked: (string | Buffer)[] | undefined;
  /** Chunks read once the login stopped listening, before the relay or a net.Socket took over. */
  #unread: Buffer[] = [];
  /** address:port, for error messages as Node words them ("connect ECONNREFUSED 127.0.0.1:143"). */
  readonly #where: string;

  private constructor(relay: NativeRelay, address: string, port: number, source: string | undefined, events: BackendEvents) {
    this.#relay = relay;
    this.#events = events;
    this.#where = `${address}:${port}`;
    try {
      this.#handle = relay.dial(address, port, source, this.#onEvent);
    } catch (err) {
      throw errnoError(`${(err as Error).message} ${this.#where}`, (err as NodeJS.ErrnoException).code);
    }
  }

  /**
   * Starts connecting to `address` (an IP literal) from `source`, or returns undefined when the addon
   * is not there. Throws, with the errno's name as code, when the connection cannot even start.
   */
  static open(address: string, port: number, source: string | undefined, events: BackendEvents): NativeBackend | undefined {
    const relay = nativeAddon();
    return relay ? new NativeBackend(relay, address, port, source, events) : undefined;
  }

  readonly #onEvent = (kind: number, arg?: Buffer | string): void => {
    const events = this.#events;
    if (kind === DE_END || kind === DE_ERROR) this.#handle = undefined;
    if (!events) {
      // The backend's next bytes belong to the session, whoever carries it.
      if (kind === DE_DATA) this.#unread.push(arg as Buffer);
      return;
    }
    if (kind === DE_DATA) events.data(arg as Buffer);
    else if (kind === DE_CONNECTED) events.connected();
    else if (kind === DE_END) events.closed();
    // The addon says "<operation> <errno name>".
    else if (kind === DE_ERROR) events.error(errnoError(`${String(arg)} ${this.#where}`, String(arg).split(' ')[1]));
  };

  get destroyed(): boolean {
    return this.#handle === undefined;
  }

  /** The local address of the connection, once connected. */
  get localAddress(): string | undefined {
    return this.#handle ? this.#relay.dialLocal(this.#handle) : undefined;
  }

  /** No more events: the login is over, one way or the other. */
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
    this.write(parts.length === 1 ? parts[0]! : Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p) : p))));
  }

  destroy(): void {
    this.#events = undefined;
    const handle = this.#handle;
    this.#handle = undefined;
    if (handle) this.#relay.dialClose(handle);
  }

  /** What was read after stopEvents(), for the client ahead of what the relay reads; put back with unread(). */
  takeUnread(): Buffer | undefined {
    const chunks = this.#unread;
    this.#unread = [];
    return chunks.length === 0 ? undefined : chunks.length === 1 ? chunks[0] : Buffer.concat(chunks);
  }

  unread(chunk: Buffer): void {
    this.#unread.unshift(chunk);
  }

  /** For relay.adopt: the dial's handle, which the relay takes over (undefined once closed). */
  handle(): object | undefined {
    return this.#handle;
  }

  /** The relay took the connection: this object no longer owns it. */
  adopted(): void {
    this.#events = undefined;
    this.#handle = undefined;
  }

  /** The connection as a net.Socket, for the JavaScript pipe; this object no longer owns it. */
  toSocket(): Socket {
    const handle = this.#handle;
    this.#events = undefined;
    this.#handle = undefined;
    const unsent = handle ? this.#relay.dialPending(handle) : undefined;
    const read = this.takeUnread();
    const fd = handle ? this.#relay.dialDetach(handle) : -1;
    if (fd < 0) {
      // Not open any more (the backend went meanwhile): the pipe sees a closed backend.
      if (handle) this.#relay.dialClose(handle);
      const gone = new Socket();
      gone.destroy();
      return gone;
    }
    const socket = new Socket({ fd, readable: true, writable: true });
    socket.setNoDelay(true);
    if (read) socket.unshift(read);
    if (unsent) socket.write(unsent);
    return socket;
  }
}

/** A backend connection after login: a Node socket, or one the native relay opened. */
export type BackendSocket = Socket | NativeBackend;
