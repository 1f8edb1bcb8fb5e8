import { createRequire } from 'node:module';

/** The addon built from native/ (relay.c, session.c, tls.c) at `npm ci`: the relay, its backend dials, its listeners and their TLS. */
export interface NativeRelay {
  /** Each side: a descriptor (duplicated), or a native connection's handle (taken as it is). */
  adopt(client: number | object, backend: number | object, idleMs: number, hasDelay: boolean, toBackend: Buffer | undefined, toClient: Buffer | undefined, onEvent: (kind: number, reason?: string, bytesIn?: number, bytesOut?: number) => number | undefined): object;
  destroy(handle: object): void;
  farewell(handle: object, line: Buffer): void;
  bytes(handle: object): [number, number];
  /** A plain TCP connection to a backend, for its login before the join (src/net/native-socket.ts). */
  dial(address: string, port: number, source: string | undefined, onEvent: (kind: number, arg?: Buffer | string) => void): object;
  dialSend(handle: object, data: string | Buffer): void;
  dialClose(handle: object): void;
  dialLocal(handle: object): string | undefined;
  /** Whether the dial's TLS handshake resumed a session; undefined without TLS in place. */
  dialResumed(handle: object): boolean | undefined;
  dialPending(handle: object): Buffer | undefined;
  dialDetach(handle: object): number;
  dialPause(handle: object): void;
  /** Delivers what waits in the socket before it returns. */
  dialResume(handle: object): void;
  /** True when closed now; false while the rest waits for the socket (it closes then, with no event). */
  dialEnd(handle: object): boolean;
  /**
   * Accepts the connections of Node's listening socket `fd` in native code (src/net/native-listen.ts).
   * onAccept(handle, ip, port) answers with the connection's event callback; onAccept(null, reason) when
   * out of descriptors (listenResume watches again).
   */
  listen(fd: number, onAccept: (handle: object | null, ipOrReason: string, port?: number) => ((kind: number, arg?: Buffer | string) => void) | undefined, tls?: object): object;
  /** The TLS context of the connections accepted from now on (implicit TLS; a reload), or none. */
  listenTls(handle: object, tls: object | undefined): void;
  /** Takes the socket out of libuv's epoll set: false when libuv has not registered it yet. */
  listenTake(handle: object): boolean;
  listenResume(handle: object): void;
  /** Stops watching the socket until listenResume: other processes sharing it accept its connections. */
  listenPause(handle: object): void;
  listenClose(handle: object): void;
  /** Server TLS for connections the relay accepted (native/tls.c). Throws POSTERN_TLS_NATIVE with OpenSSL's words. */
  tlsContext(opts: { cert: Buffer; key: Buffer; minVersion: string; ticketKeys: Buffer; ciphers: string; ciphersuites: string; sni: { names: string[]; cert: Buffer; key: Buffer }[] }): object;
  /**
   * Client TLS for backends (native/tls.c), verified against `ca` (PEM). With sessionReuse (default true) it keeps each
   * backend's last session and offers it at the next dial. Throws POSTERN_TLS_NATIVE with OpenSSL's words.
   */
  tlsClientContext(opts: { ca: Buffer; minVersion: string; ciphers: string; ciphersuites: string; sessionReuse?: boolean }): object;
  /**
   * STARTTLS: what waits leaves in the clear, then the handshake; false when the connection cannot (closed, TLS already).
   * With a client context, on a dial (connecting, for ssl=yes, or open): `servername` for SNI, the certificate checked
   * against `verifyHost` (none: not checked).
   */
  dialStartTls(handle: object, tls: object, servername?: string, verifyHost?: string): boolean;
  /** A connected pair of unix stream sockets (a TLS connection carried by a net.Socket through the relay). */
  socketPair(): [number, number];
  /** Every thread of the process to SCHED_BATCH (true) or SCHED_OTHER (false); the count of threads set. Throws with errno's name. */
  cpuPolicy(batch: boolean): number;
}

function load(): { relay?: NativeRelay; error?: string } {
  if (process.platform !== 'linux') return { error: 'the native relay is built on Linux only' };
  try {
    // This file runs as dist/src/net/native.js; the addon is built in the package root's native/.
    const require = createRequire(import.meta.url);
    return { relay: require(new URL('../../../native/build/Release/postern_relay.node', import.meta.url).pathname) as NativeRelay };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
}

const loaded = load();
let native: NativeRelay | undefined = loaded.relay;

/** Tests put a relay whose calls fail in place of the addon, and restore it with the returned function. */
export function replaceNativeRelayForTest(fake: NativeRelay | undefined): () => void {
  const before = native;
  native = fake;
  return () => (native = before);
}

/** The addon, or undefined where it is not built (or a test took it away). */
export function nativeAddon(): NativeRelay | undefined {
  return native;
}

/** Why plaintext sessions go through the JavaScript pipe although `proxy.relay` is `auto`; undefined when the native relay is there. */
export const nativeRelayMissing: string | undefined = loaded.error;
