import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { PosternError } from '../core/index.js';
import { normalizeIp } from './address.js';
import { END_MAX_MS, NativeSocket, nodeSocket, type AnySocket } from './native-socket.js';
import { serverHandshake, type ServerTls } from './tls.js';

/**
 * One accepted client connection, as the protocol fronts see it. `socket`: a NativeSocket when the
 * native relay accepted it (IMAP and POP3 listeners on TCP, in the clear or in the relay's TLS).
 */
export interface Connection<S extends AnySocket = AnySocket> {
  socket: S;
  remoteIp: string;
  remotePort: number;
  localIp: string;
  localPort: number;
  /** TLS is in place (implicit, or after STARTTLS). */
  secured: boolean;
  /** The SNI name the client asked for, if any. */
  serverName?: string;
  /** The listener's label, for logs. */
  listener: string;
  /** Server TLS for STARTTLS; absent when the listener has none. */
  tls?: ServerTls;
  /** The user name of a client certificate that verified against tls.client_ca (SASL EXTERNAL). */
  certUsername?: string;
}

/** OpenSSL's long attribute names for the short keys Node reports. */
const SHORT_NAMES: Record<string, string> = { commonName: 'CN', organizationName: 'O', organizationalUnitName: 'OU', userId: 'UID', countryName: 'C', localityName: 'L' };

/** The user name a verified client certificate carries in `field` (Dovecot's ssl_cert_username_field). */
export function verifiedCertUsername(socket: TLSSocket, field: string): string | undefined {
  if (!socket.authorized) return undefined;
  const subject = socket.getPeerCertificate()?.subject as Record<string, string | string[] | undefined> | undefined;
  const value = subject?.[SHORT_NAMES[field] ?? field] ?? subject?.[field];
  // Several values for one attribute: which one would be the user? None.
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `local`: the listener's own address when it is bound to one, which spares a getsockname per connection. */
export function connectionFromSocket(socket: Socket, listener: string, tls: ServerTls | undefined, local?: { ip: string; port: number }): Connection<Socket> {
  const secured = socket instanceof TLSSocket;
  const serverName = secured ? ((socket as TLSSocket & { servername?: string | false }).servername || undefined) : undefined;
  const certUsername = secured && tls?.certUsernameField ? verifiedCertUsername(socket as TLSSocket, tls.certUsernameField) : undefined;
  return {
    socket,
    remoteIp: normalizeIp(socket.remoteAddress),
    remotePort: socket.remotePort ?? 0,
    localIp: local?.ip ?? normalizeIp(socket.localAddress),
    localPort: local?.port ?? socket.localPort ?? 0,
    secured,
    ...(serverName ? { serverName } : {}),
    listener,
    ...(tls ? { tls } : {}),
    ...(certUsername !== undefined ? { certUsername } : {}),
  };
}

/**
 * A connection the native relay accepted; `local` as above, else the port the listener is bound to.
 * `secure`: an implicit-TLS listener's, once the relay's handshake is over, with the SNI name asked for.
 */
export function connectionFromNative(socket: NativeSocket, remoteIp: string, remotePort: number, listener: string, tls: ServerTls | undefined, local: { ip?: string; port: number }, secure?: { serverName: string | undefined }): Connection<NativeSocket> {
  return {
    socket,
    remoteIp: normalizeIp(remoteIp),
    remotePort,
    localIp: local.ip ?? normalizeIp(socket.localAddress),
    localPort: local.port,
    secured: secure !== undefined,
    ...(secure?.serverName ? { serverName: secure.serverName } : {}),
    listener,
    ...(tls ? { tls } : {}),
  };
}

/** For the parts that speak through a net.Socket (LMTP, the auth service): a native connection becomes one. */
export function nodeConnection(conn: Connection): Connection<Socket> {
  return conn.socket instanceof NativeSocket ? { ...conn, socket: nodeSocket(conn.socket) } : (conn as Connection<Socket>);
}

/** The connection's last words: `data`, what is still unsent, a FIN, then the close (lingering, see endLingering). */
export function endSocket(socket: AnySocket, data?: string): void {
  if (socket instanceof NativeSocket) return socket.end(data);
  endLingering(socket, data, END_MAX_MS);
}

/**
 * A lingering close of a Node socket, as the native relay's (native/relay.c, native/session.c):
 * `data` and what is still unsent, a FIN, then what the peer still sends is read (and dropped: its
 * session has ended) until the peer's FIN ends the socket, at most `lingerMs` after ours. A close with
 * input unread, or arriving after it, makes the kernel reset the connection and throw away what is
 * still unsent. Once a socket is ended, later calls do nothing.
 */
export function endLingering(socket: Socket, data: string | undefined, lingerMs: number): void {
  if (socket.destroyed || socket.writableEnded) return;
  if (data !== undefined) socket.end(data);
  else socket.end();
  socket.resume();
  socket.once('finish', () => {
    const cap = setTimeout(() => socket.destroy(), lingerMs).unref();
    socket.once('close', () => clearTimeout(cap));
  });
}

/** The relay's context for these certificates, or undefined (none, or OpenSSL refused it, told to `onError`: Node's TLS serves then). */
export function nativeContextOf(tls: ServerTls, onError?: (err: Error) => void): object | undefined {
  try {
    return tls.nativeContext();
  } catch (err) {
    onError?.(err as Error);
    return undefined;
  }
}

async function startNativeTls(conn: Connection<NativeSocket>, tls: ServerTls, native: object, handshakeTimeoutMs: number): Promise<void> {
  try {
    const name = await conn.socket.startTls(native, handshakeTimeoutMs);
    conn.secured = true;
    if (name) conn.serverName = name;
  } catch (err) {
    tls.onHandshakeFailed?.(conn.listener);
    conn.socket.destroy();
    throw err;
  }
}

/**
 * Upgrades a plain connection in place (STARTTLS/STLS). The caller must have discarded any
 * bytes the client sent after the command: they were not protected (RFC 3207 section 4.2 style injection).
 */
export function startServerTls(conn: Connection, handshakeTimeoutMs: number): Promise<void> {
  const tls = conn.tls;
  if (!tls) return Promise.reject(new PosternError('POSTERN_TLS_UNAVAILABLE', 'no TLS configured for this listener'));
  // A connection the relay accepted stays there: it runs the handshake itself (native/tls.c).
  const native = conn.socket instanceof NativeSocket ? nativeContextOf(tls) : undefined;
  if (native) return startNativeTls(conn as Connection<NativeSocket>, tls, native, handshakeTimeoutMs);
  const plain = nodeSocket(conn.socket);
  plain.removeAllListeners('data');
  plain.removeAllListeners('timeout');
  const secure = new TLSSocket(plain, { isServer: true, ...tls.socketOptions });
  conn.socket = secure;
  return serverHandshake(secure, handshakeTimeoutMs, () => tls.onHandshakeFailed?.(conn.listener)).then(() => {
    conn.secured = true;
    const name = (secure as TLSSocket & { servername?: string | false }).servername;
    if (name) conn.serverName = name;
    const user = tls.certUsernameField ? verifiedCertUsername(secure, tls.certUsernameField) : undefined;
    if (user !== undefined) conn.certUsername = user;
  });
}
