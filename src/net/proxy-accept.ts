import type { Socket } from 'node:net';
import { Duplex } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { normalizeIp, type NetworkList } from './address.js';
import { decodeProxyHeader, V2_MAX_BYTES, type ProxyHeader } from './proxy-protocol.js';
import { serverHandshake, type ServerTls } from './tls.js';

/** A load balancer sends the header at once; a peer silent this long is not one (Dovecot waits 3 s). */
export const PROXY_HEADER_TIMEOUT_MS = 5_000;

export type ProxyRead = { kind: 'header'; header: ProxyHeader } | { kind: 'refused'; reason: string };

/** The addresses the PROXY header gave, or the socket's own for LOCAL (health checks). */
export interface PeerAddresses {
  remoteIp: string;
  remotePort: number;
  localIp: string;
  localPort: number;
}

/**
 * Reads the PROXY header (v1 or v2) from the raw socket, first thing. Bytes after it stay in the
 * socket (unshifted), which is left paused. `trusted` is checked before a byte is read: Dovecot's
 * haproxy_trusted_networks, so a client cannot forge its own address.
 */
export function readProxyHeader(socket: Socket, trusted: NetworkList, timeoutMs = PROXY_HEADER_TIMEOUT_MS): Promise<ProxyRead> {
  const peer = normalizeIp(socket.remoteAddress);
  if (!trusted.has(peer)) return Promise.resolve({ kind: 'refused', reason: `${peer} is not in haproxy_trusted_networks` });
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const done = (r: ProxyRead) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('close', onEnd);
      socket.pause();
      resolve(r);
    };
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      const r = decodeProxyHeader(buf);
      if (r.kind === 'needMore') {
        // The decoder bounds both versions; this guards the buffer whatever it says.
        if (buf.length > V2_MAX_BYTES) done({ kind: 'refused', reason: 'PROXY header too long' });
        return;
      }
      if (r.kind === 'error') return done({ kind: 'refused', reason: `malformed PROXY header: ${r.message}` });
      done({ kind: 'header', header: r.header });
      // The client's first bytes may share the header's packet: they belong to the protocol front.
      if (buf.length > r.header.length) socket.unshift(buf.subarray(r.header.length));
    };
    const onEnd = () => done({ kind: 'refused', reason: 'closed before the PROXY header' });
    const timer = setTimeout(() => done({ kind: 'refused', reason: `no PROXY header within ${timeoutMs} ms` }), timeoutMs);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
  });
}

export function peerAddresses(socket: Socket, header: ProxyHeader): PeerAddresses {
  if (header.kind === 'local') {
    return { remoteIp: normalizeIp(socket.remoteAddress), remotePort: socket.remotePort ?? 0, localIp: normalizeIp(socket.localAddress), localPort: socket.localPort ?? 0 };
  }
  return { remoteIp: normalizeIp(header.source.ip), remotePort: header.source.port, localIp: normalizeIp(header.destination.ip), localPort: header.destination.port };
}

/**
 * Implicit TLS after the PROXY header: the handshake runs on the raw socket. A TLSSocket built on
 * a net.Socket reads its C++ handle and would miss bytes already unshifted (a ClientHello in the
 * header's packet), so then the socket is wrapped in a plain stream that replays them.
 */
export function startTlsAfterHeader(socket: Socket, tls: ServerTls, handshakeTimeoutMs: number): Promise<TLSSocket> {
  const transport = socket.readableLength > 0 ? replayingStream(socket) : socket;
  const secure = new TLSSocket(transport, { isServer: true, ...tls.socketOptions });
  if (transport === socket) socket.resume();
  return serverHandshake(secure, handshakeTimeoutMs, () => socket.destroy()).then(() => secure);
}

function replayingStream(socket: Socket): Duplex {
  const stream = new Duplex({
    read: () => void socket.resume(),
    write: (chunk: Buffer, _enc, cb) => void socket.write(chunk, cb),
    final: (cb) => void socket.end(cb),
    destroy: (err, cb) => {
      socket.destroy(err ?? undefined);
      cb(err);
    },
  });
  socket.on('data', (chunk: Buffer) => {
    if (!stream.push(chunk)) socket.pause();
  });
  socket.once('end', () => stream.push(null));
  socket.once('close', () => stream.destroy());
  socket.resume();
  return stream;
}
