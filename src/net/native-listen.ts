import type { Server } from 'node:net';
import type { Logger } from '../log/index.js';
import { nativeAddon, type NativeRelay } from './native.js';
import { outOfDescriptors, whileOutOfDescriptors } from './descriptors.js';
import { NativeSocket } from './native-socket.js';

/** Loop turns to wait for libuv to register the socket before the relay takes it. */
const TAKE_TRIES = 20;

/**
 * The connections of an IMAP or POP3 listener, accepted by the native relay: each is a
 * NativeSocket from its first byte, with no net.Socket or TCPWrap (bench/RESULTS.md, item 25).
 * Node's server keeps the socket itself (bind, sharing across the cluster's workers, close); the relay
 * accepts on a duplicate, and libuv stops watching it once listenTake has taken it from libuv's
 * epoll set. Until then, and if that never succeeds, Node's server still accepts: both paths serve.
 */
export class NativeListen {
  readonly #relay: NativeRelay;
  readonly #handle: object;
  #closed = false;
  /** Held back by the cluster's primary (process.accept: gather): the relay does not watch the socket. */
  #held = false;
  /** The process is out of descriptors (descriptors.ts): not watched either, until its reserve is back. */
  #starved = false;
  readonly #unwatch: () => void;
  #lastWarn = 0;
  /** Settles once libuv no longer accepts on the socket (true), or gave up trying (false). */
  readonly taken: Promise<boolean>;

  private constructor(relay: NativeRelay, fd: number, onAccept: (socket: NativeSocket, ip: string, port: number) => void, label: string, log: Logger, tls: object | undefined) {
    this.#relay = relay;
    this.#handle = relay.listen(fd, (handle, ipOrReason, port) => {
      if (handle === null) {
        this.#outOfDescriptors(ipOrReason, label, log);
        return undefined;
      }
      const socket = NativeSocket.accepted(relay, handle, ipOrReason, port ?? 0);
      onAccept(socket, ipOrReason, port ?? 0);
      return socket.eventSink;
    }, tls);
    this.#unwatch = whileOutOfDescriptors((starved) => {
      this.#starved = starved;
      this.#watch();
    });
    this.taken = new Promise((resolve) => this.#take(TAKE_TRIES, label, log, resolve));
  }

  /**
   * Native accepts for `server` (listening on TCP), or undefined when the addon or the descriptor is not
   * there. `tls` (a context of the relay's): implicit TLS, the handshake starting at accept (NativeSocket.secured).
   */
  static start(server: Server, onAccept: (socket: NativeSocket, ip: string, port: number) => void, label: string, log: Logger, tls?: object): NativeListen | undefined {
    const relay = nativeAddon();
    const fd = (server as unknown as { _handle?: { fd?: number } })._handle?.fd;
    if (!relay || typeof fd !== 'number' || fd < 0) return undefined;
    try {
      return new NativeListen(relay, fd, onAccept, label, log, tls);
    } catch (err) {
      log.warn({ event: 'native_accept_unavailable', listener: label, err: (err as Error).message }, 'the native relay cannot accept on this listener; Node accepts its connections');
      return undefined;
    }
  }

  #take(tries: number, label: string, log: Logger, done: (taken: boolean) => void): void {
    setImmediate(() => {
      if (this.#closed) return done(false);
      if (this.#relay.listenTake(this.#handle)) return done(true);
      if (tries > 1) return this.#take(tries - 1, label, log, done);
      log.warn({ event: 'native_accept_partial', listener: label }, 'libuv still watches this listener: Node accepts some of its connections');
      done(false);
    });
  }

  /** The relay stopped watching the socket: it would stay ready and spin. It is watched again once the process has its reserve back. */
  #outOfDescriptors(reason: string, label: string, log: Logger): void {
    const now = Date.now();
    if (now - this.#lastWarn >= 1000) {
      this.#lastWarn = now;
      log.warn({ event: 'accept_failed', listener: label, err: reason }, `cannot accept connections (${reason}): the listener waits until the process has descriptors to spare`);
    }
    outOfDescriptors();
  }

  /** Held: this process stops accepting on the socket (other processes sharing it go on); released: it accepts again. */
  hold(held: boolean): void {
    if (this.#closed || held === this.#held) return;
    this.#held = held;
    this.#watch();
  }

  #watch(): void {
    if (this.#closed) return;
    if (this.#held || this.#starved) this.#relay.listenPause(this.#handle);
    else this.#relay.listenResume(this.#handle);
  }

  /** Connections accepted from now on get this TLS context (a reload). */
  setTls(tls: object): void {
    if (!this.#closed) this.#relay.listenTls(this.#handle, tls);
  }

  /** No more accepts here (Node's server closes the socket itself). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#unwatch();
    this.#relay.listenClose(this.#handle);
  }
}
