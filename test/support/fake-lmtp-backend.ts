// A scripted LMTP server (RFC 2033) on loopback, built on postern's own codec: what the LMTP
// proxy front is tested against without Dovecot.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { LmtpCommandReader, LmtpReplyReader, type LmtpReply } from '../../src/lmtp/wire/index.js';

export interface Delivery {
  from: string;
  rcpts: string[];
  /** The body as received, still dot-stuffed, without the terminating dot line. */
  body: Buffer;
}

export interface FakeLmtpOptions {
  /** Recipients accepted; others get 550 5.1.1. */
  users: string[];
  /** XCLIENT etc.: extra LHLO lines. */
  extensions?: string[];
  /** Drop the connection once this many body bytes arrived. */
  dropAfterBodyBytes?: number;
  /** Listen on this port instead of a free one. */
  port?: number;
  /** Listen on this loopback address instead of 127.0.0.1 (::1 for IPv6). */
  host?: string;
}

export interface FakeLmtpBackend {
  port: number;
  deliveries: Delivery[];
  /** Every command line received, per connection. */
  sessions: string[][];
  /** Every byte received, per connection, as latin1 text. */
  received: string[];
  /** The address each connection came from. */
  peers: string[];
  /** Body bytes received in transactions that never ended with the dot. */
  abandonedBodyBytes: number;
  close(): Promise<void>;
}

export async function startFakeLmtp(opts: FakeLmtpOptions): Promise<FakeLmtpBackend> {
  const sockets = new Set<Socket>();
  const backend: FakeLmtpBackend = { port: 0, deliveries: [], sessions: [], received: [], peers: [], abandonedBodyBytes: 0, close: () => Promise.resolve() };
  const server: Server = createServer((s) => {
    sockets.add(s);
    const log: string[] = [];
    backend.sessions.push(log);
    backend.peers.push(s.remoteAddress ?? '');
    const index = backend.received.push('') - 1;
    const reader = new LmtpCommandReader();
    let from = '';
    let rcpts: string[] = [];
    let body: Buffer[] = [];
    let bodyBytes = 0;
    let inData = false;
    s.on('close', () => {
      sockets.delete(s);
      if (inData) backend.abandonedBodyBytes += bodyBytes;
    });
    s.on('error', () => {});
    s.write('220 fake LMTP ready\r\n');
    s.on('data', (chunk: Buffer) => {
      backend.received[index] += chunk.toString('latin1');
      reader.feed(chunk);
      for (let r = reader.next(); r.kind !== 'needMore'; r = reader.next()) {
        if (r.kind === 'data') {
          body.push(r.bytes);
          bodyBytes += r.bytes.length;
          if (opts.dropAfterBodyBytes !== undefined && bodyBytes >= opts.dropAfterBodyBytes) return void s.destroy();
          continue;
        }
        if (r.kind === 'dataEnd') {
          inData = false;
          backend.deliveries.push({ from, rcpts, body: Buffer.concat(body) });
          s.write(rcpts.map((u) => `250 2.0.0 <${u}> Saved\r\n`).join(''));
          rcpts = [];
          body = [];
          bodyBytes = 0;
          continue;
        }
        if (r.kind !== 'command') {
          s.write('500 5.5.2 bad\r\n');
          continue;
        }
        const c = r.command;
        log.push(c.name === 'MAIL' || c.name === 'RCPT' ? `${c.name} ${c.path}${c.params.map((p) => ` ${p.keyword}=${p.value ?? ''}`).join('')}` : c.name);
        switch (c.name) {
          case 'LHLO':
            s.write(['fake', '8BITMIME', 'ENHANCEDSTATUSCODES', 'PIPELINING', ...(opts.extensions ?? [])].map((l, i, a) => `250${i === a.length - 1 ? ' ' : '-'}${l}\r\n`).join(''));
            break;
          case 'MAIL':
            from = c.path;
            s.write('250 2.1.0 OK\r\n');
            break;
          case 'RCPT':
            if (opts.users.includes(c.path)) {
              rcpts.push(c.path);
              s.write('250 2.1.5 OK\r\n');
            } else s.write(`550 5.1.1 <${c.path}> User doesn't exist: ${c.path}\r\n`);
            break;
          case 'DATA':
            inData = true;
            reader.beginData();
            s.write('354 OK\r\n');
            break;
          case 'QUIT':
            s.end('221 2.0.0 Bye\r\n');
            break;
          default:
            s.write('250 2.0.0 OK\r\n');
        }
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? '127.0.0.1', resolve));
  backend.port = (server.address() as AddressInfo).port;
  backend.close = () => new Promise((resolve) => {
    for (const s of sockets) s.destroy();
    server.close(() => resolve());
  });
  return backend;
}

/** A byte-level LMTP client: sends, then reads whole replies with postern's reply reader. */
export interface LmtpTestClient {
  socket: Socket;
  send(text: string | Buffer): void;
  /** The next `n` complete replies. */
  replies(n: number): Promise<LmtpReply[]>;
  /** Sends a line and reads one reply; its first line as "code text". */
  cmd(line: string): Promise<string>;
  closed: Promise<void>;
}

export function replyText(r: LmtpReply): string {
  return r.raw.toString('utf8').replace(/\r\n$/, '');
}

export async function connectLmtp(port: number): Promise<LmtpTestClient> {
  const { connect } = await import('node:net');
  const socket = connect({ host: '127.0.0.1', port });
  const reader = new LmtpReplyReader();
  const got: LmtpReply[] = [];
  let wake: (() => void) | undefined;
  socket.on('data', (chunk: Buffer) => {
    reader.feed(chunk);
    for (let r = reader.next(); r.kind === 'reply'; r = reader.next()) got.push(r.reply);
    wake?.();
  });
  const closed = new Promise<void>((resolve) => socket.on('close', () => {
    resolve();
    wake?.();
  }));
  socket.on('error', () => {});
  let ended = false;
  void closed.then(() => (ended = true));
  const replies = async (n: number): Promise<LmtpReply[]> => {
    while (got.length < n) {
      if (ended) throw new Error(`connection closed after ${got.length} of ${n} replies`);
      await new Promise<void>((resolve) => (wake = resolve));
    }
    return got.splice(0, n);
  };
  await replies(1);
  const send = (text: string | Buffer) => void socket.write(text);
  return {
    socket, send, replies, closed,
    cmd: async (line: string) => {
      send(`${line}\r\n`);
      return replyText((await replies(1))[0]!);
    },
  };
}
