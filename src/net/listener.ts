import { createServer as createTcpServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { Logger } from '../log/index.js';
import { PosternError } from '../core/index.js';
import type { ListenConfig } from './config.js';
import { connectionFromNative, connectionFromSocket, nativeContextOf, type Connection } from './connection.js';
import { NativeListen } from './native-listen.js';
import type { AnySocket, NativeSocket } from './native-socket.js';
import { normalizeIp, type NetworkList } from './address.js';
import { peerAddresses, readProxyHeader, startTlsAfterHeader } from './proxy-accept.js';
import { TLS_HANDSHAKE_TIMEOUT_MS, type ServerTls } from './tls.js';
import { applySocketPermissions, freeSocketPath } from './unix-socket.js';

export type ConnectionHandler = (conn: Connection) => void;

export interface ListenerOptions {
  /** haproxy_trusted_networks: the load balancers a `haproxy: true` listener takes a PROXY header from. */
  haproxyTrusted?: NetworkList;
  /** How long a PROXY header may take (tests shorten it). */
  haproxyTimeoutMs?: number;
  /**
   * A cluster worker: the primary holds the bound socket and shares it, so a socket file that
   * answers is ours (the primary freed stale ones before the workers started).
   */
  clustered?: boolean;
  /**
   * A TCP listener's connections are accepted by the native relay, as NativeSockets (see NativeListen),
   * which also runs their TLS (implicit, STARTTLS) unless client certificates are asked for; for the
   * IMAP and POP3 fronts under `proxy.relay: auto`.
   */
  nativeAccept?: boolean;
}

/**
 * One bound TCP port or unix socket (`config.path`). `close()` stops accepting and lets
 * sessions finish; `destroy()` also drops them. A unix socket's file is removed on close.
 */
export class Listener {
  readonly config: ListenConfig;
  readonly label: string;
  readonly #server: Server;
  readonly #sockets = new Set<AnySocket>();
  readonly #onConnection: ConnectionHandler;
  readonly #log: Logger;
  readonly #nativeAccept: boolean;
  /** Implicit TLS in the relay: its context of the moment (a reload swaps it). */
  #nativeTls: object | undefined;
  #native: NativeListen | undefined;
  /** Held back by the cluster's primary (process.accept: gather), for a native listener: see hold(). */
  #held = false;
  /** A native connection's local end as far as the listener knows it: its address when bound to one, its port. */
  #nativeLocal: { ip?: string; port: number } = { port: 0 };
  #closed = false;
  #bound: AddressInfo | undefined;
  /** A listener on one address: every connection's local end, known without asking the socket. */
  #local: { ip: string; port: number } | undefined;
  /** Swapped by a reload: new connections get the new certificates and trusted balancers. */
  #tls: ServerTls | undefined;
  #haproxyTrusted: NetworkList | undefined;
  readonly #clustered: boolean;

  constructor(config: ListenConfig, tls: ServerTls | undefined, onConnection: ConnectionHandler, log: Logger, opts: ListenerOptions = {}) {
    this.config = config;
    this.#tls = config.tls === 'none' ? undefined : tls;
    this.#haproxyTrusted = opts.haproxyTrusted;
    this.#clustered = opts.clustered ?? false;
    this.#onConnection = onConnection;
    this.#log = log;
    this.label = config.name ?? `${config.protocol}:${config.path ?? config.port}`;
    if (config.tls !== 'none' && !tls) {
      throw new PosternError('POSTERN_TLS_REQUIRED', `listener ${this.label} uses tls: ${config.tls} but the configuration has no tls section`);
    }
    const native = (opts.nativeAccept ?? false) && !config.haproxy && config.path === undefined;
    // Built now, so that OpenSSL's refusal is logged at start; STARTTLS (startServerTls) finds it in the ServerTls.
    const nativeTls = native && config.tls !== 'none' && tls ? this.#nativeContext(tls) : undefined;
    // Implicit TLS only with the relay's own; a STARTTLS listener without it upgrades in Node.
    this.#nativeAccept = native && (config.tls !== 'implicit' || nativeTls !== undefined);
    if (config.tls === 'implicit') this.#nativeTls = nativeTls;
    const accept = (socket: Socket) => {
      this.#track(socket);
      onConnection(connectionFromSocket(socket, this.label, this.#tls, this.#local));
    };
    if (config.haproxy) {
      if (!opts.haproxyTrusted) throw new PosternError('POSTERN_HAPROXY_UNTRUSTED', `listener ${this.label} uses haproxy but haproxy_trusted_networks is empty`);
      this.#server = createTcpServer((socket) => this.#acceptProxied(socket, this.#haproxyTrusted!, opts.haproxyTimeoutMs, this.#tls, onConnection, log));
    } else if (config.tls === 'implicit' && this.#nativeAccept) {
      // The relay takes the socket within a turn or two of the loop; what Node accepts before that gets Node's TLS.
      this.#server = createTcpServer((socket) => void this.#acceptTlsInNode(socket));
    } else if (config.tls === 'implicit' && tls) {
      // SNI asks the certificates of the moment (see update()).
      const server = createTlsServer({ ...tls.options, SNICallback: (name, cb) => this.#tls!.options.SNICallback!(name, cb), handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }, accept);
      server.on('tlsClientError', (err, socket) => this.#handshakeFailed(tls, normalizeIp(socket.remoteAddress), err));
      this.#server = server;
    } else {
      this.#server = createTcpServer(accept);
    }
    this.#server.on('error', (err) => log.error({ event: 'listener_error', listener: this.label, err: err.message }, 'listener error'));
  }

  #track(socket: Socket): void {
    // Replies are small and follow each other (a tagged line after untagged ones): no Nagle wait.
    socket.setNoDelay(true);
    this.#sockets.add(socket);
    socket.once('close', () => this.#sockets.delete(socket));
    socket.on('error', () => {}); // each front installs its own handler; this keeps a reset before that from crashing
  }

  /** The relay's context for `tls`, or undefined (no addon, client certificates; or OpenSSL refused it, which is logged). */
  #nativeContext(tls: ServerTls): object | undefined {
    return nativeContextOf(tls, (err) => this.#log.warn({ event: 'native_tls_unavailable', listener: this.label, err: err.message }, "the native relay cannot use this listener's certificates; Node's TLS serves it"));
  }

  readonly #acceptNative = (socket: NativeSocket, ip: string, port: number): void => {
    this.#sockets.add(socket);
    socket.onGone = () => this.#sockets.delete(socket);
    const tls = this.#tls;
    if (this.config.tls !== 'implicit' || !tls) {
      this.#onConnection(connectionFromNative(socket, ip, port, this.label, tls, this.#nativeLocal));
      return;
    }
    // Implicit TLS: the relay runs the handshake; the front sees the connection once it is over.
    socket.secured(TLS_HANDSHAKE_TIMEOUT_MS).then(
      (serverName) => this.#onConnection(connectionFromNative(socket, ip, port, this.label, tls, this.#nativeLocal, { serverName })),
      (err: Error) => this.#handshakeFailed(tls, normalizeIp(ip), err),
    );
  };

  #handshakeFailed(tls: ServerTls, rip: string, err: Error): void {
    tls.onHandshakeFailed?.(this.label);
    this.#log.info({ event: 'tls_handshake_failed', listener: this.label, rip, err: err.message }, 'TLS handshake failed');
  }

  /** A connection of an implicit-TLS listener that Node accepted before the relay took the socket. */
  async #acceptTlsInNode(socket: Socket): Promise<void> {
    this.#track(socket);
    const tls = this.#tls!;
    try {
      const secure = await startTlsAfterHeader(socket, tls, TLS_HANDSHAKE_TIMEOUT_MS);
      this.#sockets.delete(socket);
      this.#track(secure);
      this.#onConnection(connectionFromSocket(secure, this.label, tls, this.#local));
    } catch (err) {
      this.#handshakeFailed(tls, normalizeIp(socket.remoteAddress), err as Error);
    }
  }

  /** A `haproxy` listener: the PROXY header in plaintext first, then (implicit) TLS, then the front. */
  async #acceptProxied(socket: Socket, trusted: NetworkList, timeoutMs: number | undefined, tls: ServerTls | undefined, onConnection: ConnectionHandler, log: Logger): Promise<void> {
    this.#track(socket);
    const peer = normalizeIp(socket.remoteAddress);
    const read = await readProxyHeader(socket, trusted, timeoutMs);
    if (read.kind === 'refused') {
      // Dovecot: "haproxy: Client not trusted" / "Invalid header"; the connection is closed, no greeting.
      log.warn({ event: 'haproxy_refused', listener: this.label, peer, reason: read.reason }, `PROXY protocol: ${read.reason}`);
      socket.destroy();
      return;
    }
    const addresses = peerAddresses(socket, read.header);
    let front: Socket = socket;
    if (this.config.tls === 'implicit' && tls) {
      try {
        front = await startTlsAfterHeader(socket, tls, TLS_HANDSHAKE_TIMEOUT_MS);
        // From here the TLS socket stands for the connection (destroying it closes the raw one).
        this.#sockets.delete(socket);
        this.#track(front);
      } catch (err) {
        this.#handshakeFailed(tls, addresses.remoteIp, err as Error);
        return;
      }
    }
    if (socket.destroyed) return;
    const conn = { ...connectionFromSocket(front, this.label, tls), ...addresses };
    // Resumed before the front subscribes: the flow starts on the next tick, with the unshifted bytes first.
    if (front === socket) socket.resume();
    onConnection(conn);
  }

  /**
   * A reload: new connections get these certificates and trusted balancers; open ones keep theirs.
   * (Whether client certificates are asked for is fixed when an implicit-TLS listener opens.)
   */
  update(tls: ServerTls | undefined, haproxyTrusted: NetworkList | undefined): void {
    if (this.config.tls !== 'none' && tls) {
      this.#tls = tls;
      if ('setSecureContext' in this.#server) (this.#server as TlsServer).setSecureContext({ ...tls.options });
      if (this.#nativeAccept) {
        // An implicit-TLS listener keeps its context if OpenSSL refuses the new one (Node's took it: the reload goes on).
        const nativeTls = this.#nativeContext(tls);
        if (this.#nativeTls !== undefined && nativeTls !== undefined) {
          this.#nativeTls = nativeTls;
          this.#native?.setTls(nativeTls);
        }
      }
    }
    if (haproxyTrusted) this.#haproxyTrusted = haproxyTrusted;
  }

  async listen(): Promise<AddressInfo> {
    const { path } = this.config;
    if (path !== undefined && !this.#clustered) await freeSocketPath(path, this.label);
    await new Promise<void>((resolve, reject) => {
      const where = path ?? `${this.config.address}:${this.config.port}`;
      const onError = (err: Error) => reject(new PosternError('POSTERN_LISTEN', `cannot listen on ${where} (${this.label}): ${err.message}`, { cause: err }));
      this.#server.once('error', onError);
      this.#server.listen(path !== undefined ? { path } : { host: this.config.address, port: this.config.port }, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    if (path !== undefined) {
      try {
        await applySocketPermissions(path, this.config, this.label);
      } catch (err) {
        this.destroy();
        throw err;
      }
    }
    this.#bound = undefined;
    this.#bound = this.address();
    const { address, port, family } = this.#bound;
    if (family !== 'unix' && address !== '0.0.0.0' && address !== '::') this.#local = { ip: normalizeIp(address), port };
    if (this.#nativeAccept) {
      this.#nativeLocal = this.#local ?? { port };
      this.#native = NativeListen.start(this.#server, this.#acceptNative, this.label, this.#log, this.#nativeTls);
      if (this.#held) this.#native?.hold(true);
      // Listening means the relay accepts: libuv lets go of the socket within a turn or two of the loop.
      await this.#native?.taken;
    }
    return this.#bound;
  }

  /**
   * Whether this process takes the listener's new connections: a held one leaves them to the other
   * workers sharing the socket. Only native accepts can be held; Node's server accepts regardless.
   */
  hold(held: boolean): void {
    this.#held = held;
    this.#native?.hold(held);
  }

  /** The bound address; for a unix socket `{ address: path, family: 'unix', port: 0 }`. */
  address(): AddressInfo {
    // Asked on every login (the loop check): read from the socket once it is bound.
    if (this.#bound) return this.#bound;
    const a = this.#server.address();
    if (typeof a === 'string') return { address: a, family: 'unix', port: 0 };
    return a ?? { address: this.config.path ?? this.config.address, family: this.config.path !== undefined ? 'unix' : '', port: 0 };
  }

  get connectionCount(): number {
    return this.#sockets.size;
  }

  close(): Promise<void> {
    if (this.#closed) return Promise.resolve();
    this.#closed = true;
    this.#native?.close();
    return new Promise((resolve) => this.#server.close(() => resolve()));
  }

  destroy(): void {
    void this.close();
    for (const s of this.#sockets) s.destroy();
  }
}
