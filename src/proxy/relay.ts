import type { Socket } from 'node:net';
import { nativeAddon, NativeSocket, type AnySocket } from '../net/index.js';
import type { Pipe, PipeEnd, PipeEndReason } from './pipe.js';

const EV_DELAY = 1;

/** `proxy.relay`: `auto` moves the bytes of sessions in native code when the addon is built (TLS too, where the relay runs it). */
export type RelayMode = 'auto' | 'js';

/** The descriptor of a plain TCP socket with nothing waiting to be written, or undefined (TLS, a wrapped stream, a pending write). */
function plainFd(s: Socket): number | undefined {
  if ((s as { encrypted?: boolean }).encrypted || s.destroyed || s.writableLength > 0 || s.pending) return undefined;
  const fd = (s as unknown as { _handle?: { fd?: number } })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** What the socket read that nobody took yet: it belongs in front of what the relay reads. */
function takeBuffered(s: Socket): Buffer | undefined {
  s.pause();
  if (s.readableLength === 0) return undefined;
  return (s.read() as Buffer | null) ?? undefined;
}

function joined(a: Buffer | undefined, b: Buffer | undefined): Buffer | undefined {
  if (!a || a.length === 0) return b;
  if (!b || b.length === 0) return a;
  return Buffer.concat([a, b]);
}

/**
 * One side as the relay takes it: a net.Socket's descriptor is duplicated and the socket destroyed;
 * a native connection's handle is taken as it is. `read` is what was read from it that nobody took
 * yet, `giveBack` returns it when the relay refuses the session.
 */
function relaySide(s: AnySocket): { ref: number | object | undefined; read(): Buffer | undefined; giveBack(chunk: Buffer): void; handedOver(): void } {
  if (s instanceof NativeSocket) return { ref: s.handle(), read: () => s.takeUnread(), giveBack: (c) => s.unread(c), handedOver: () => s.adopted() };
  return { ref: plainFd(s), read: () => takeBuffered(s), giveBack: (c) => s.unshift(c), handedOver: () => s.destroy() };
}

/** How two sockets are joined after login, by the native relay or the JavaScript pipe alike. */
export interface JoinOptions {
  idleTimeoutMs: number;
  /** The login reply and what came before it: the client's first bytes, not counted in bytesOut. */
  reply?: Buffer;
  /** Bytes already read from one side that the other must get first. */
  beforeBackend?: Buffer;
  beforeClient?: Buffer;
  /** The backend closed the session: ms to hold the client's connection before closing it (login_proxy_max_disconnect_delay). */
  clientCloseDelay?: () => number;
  /** The addon refused the sockets (out of descriptors, say): the session goes on in JavaScript, and this says why. */
  onRelayError?: (message: string) => void;
}

/**
 * Hands both sockets to the native relay (native/session.c), or returns undefined when it cannot:
 * no addon, Node's TLS on either side, or a write still pending. The JavaScript sockets are destroyed;
 * the relay holds duplicates of their descriptors, so the connections stay open. A connection the
 * relay opened or accepted itself (NativeSocket) is taken as it is.
 */
export function adoptSockets(clientSocket: AnySocket, backendSocket: AnySocket, opts: JoinOptions): Pipe | undefined {
  const relay = nativeAddon();
  if (!relay) return undefined;
  const client = relaySide(clientSocket);
  const backend = relaySide(backendSocket);
  if (client.ref === undefined || backend.ref === undefined) return undefined;
  const fromClient = client.read();
  const fromBackend = backend.read();
  const toBackend = joined(opts.beforeBackend, fromClient);
  const toClient = joined(joined(opts.reply, opts.beforeClient), fromBackend);
  const replyLength = opts.reply?.length ?? 0;
  const inBefore = toBackend?.length ?? 0;
  let resolveDone!: (end: PipeEnd) => void;
  const done = new Promise<PipeEnd>((r) => (resolveDone = r));
  let reason: PipeEndReason | undefined;
  let final: PipeEnd | undefined;
  // A farewell asked once: asked again, the relay closes at once.
  let farewellAsked = false;
  const delay = opts.clientCloseDelay;
  const onEvent = (kind: number, why?: string, bytesIn = 0, bytesOut = 0): number | undefined => {
    if (kind === EV_DELAY) return delay?.() ?? 0;
    final = { reason: reason ?? (why as PipeEndReason | undefined) ?? 'client disconnected', bytesIn: inBefore + bytesIn, bytesOut: Math.max(0, bytesOut - replyLength) };
    resolveDone(final);
    return undefined;
  };
  let handle: object;
  try {
    handle = relay.adopt(client.ref, backend.ref, opts.idleTimeoutMs, delay !== undefined, toBackend, toClient, onEvent);
  } catch (err) {
    // Nothing was written or closed: what was taken from the sockets goes back for the JavaScript pipe.
    if (fromClient) client.giveBack(fromClient);
    if (fromBackend) backend.giveBack(fromBackend);
    opts.onRelayError?.((err as Error).message);
    return undefined;
  }
  client.handedOver();
  backend.handedOver();
  return {
    done,
    destroy: (why, line) => {
      if (final) return;
      reason ??= why;
      if (line !== undefined && !farewellAsked) relay.farewell(handle, Buffer.from(line));
      else relay.destroy(handle);
      farewellAsked = true;
    },
    bytes: () => {
      if (final) return { bytesIn: final.bytesIn, bytesOut: final.bytesOut };
      const [i, o] = relay.bytes(handle);
      return { bytesIn: inBefore + i, bytesOut: Math.max(0, o - replyLength) };
    },
  };
}
