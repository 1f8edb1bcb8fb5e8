import { connect as tcpConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

export interface ScriptedClient {
  socket: Socket;
  greeting: string;
  /** Sends `text` + CRLF and resolves with everything received until `until` matches (default: the last line's tag completing). */
  command(text: string, until?: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends raw bytes, resolves with what arrives until `until` matches. */
  send(data: string | Buffer, until: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves when the server closes the connection, with what it sent last. */
  closed(timeoutMs?: number): Promise<string>;
  close(): void;
}

/** A byte-level IMAP client for exchanges real clients would never send. */
export async function readImap(port: number, opts: { localAddress?: string; tls?: ConnectionOptions; host?: string; greeting?: RegExp } = {}): Promise<ScriptedClient> {
  const host = opts.host ?? '127.0.0.1';
  const socket: Socket = opts.tls
    ? tlsConnect({ host, port, ...opts.tls, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) })
    : tcpConnect({ host, port, ...(opts.localAddress ? { localAddress: opts.localAddress } : {}) });
  let buf = '';
  let ended = false;
  const waiters = new Set<() => void>();
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => {
    buf += d;
    for (const w of waiters) w();
  });
  socket.on('close', () => {
    ended = true;
    for (const w of waiters) w();
  });
  socket.on('error', () => {});

  const waitFor = (until: RegExp, timeoutMs: number): Promise<string> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const m = until.exec(buf);
        if (m) {
          const end = m.index + m[0].length;
          const nl = buf.indexOf('\n', end - 1);
          const cut = nl >= 0 ? nl + 1 : end;
          const out = buf.slice(0, cut);
          buf = buf.slice(cut);
          done();
          resolve(out);
        } else if (ended) {
          done();
          reject(new Error(`connection closed before ${until}; got: ${JSON.stringify(buf)}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${until}; got: ${JSON.stringify(buf)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });

  await new Promise<void>((resolve, reject) => {
    socket.once(opts.tls ? 'secureConnect' : 'connect', () => resolve());
    socket.once('error', reject);
  });
  const greeting = await waitFor(opts.greeting ?? /^\* (OK|BYE|PREAUTH)[^\r\n]*\r\n/m, 10_000);
  return {
    socket,
    greeting,
    command(text, until, timeoutMs = 10_000) {
      const lines = text.split('\r\n');
      const tag = (lines[lines.length - 1] ?? '').split(' ')[0] ?? '';
      socket.write(`${text}\r\n`);
      return waitFor(until ?? new RegExp(`^${tag.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} (OK|NO|BAD)[^\\r\\n]*\\r\\n`, 'm'), timeoutMs);
    },
    send(data, until, timeoutMs = 10_000) {
      socket.write(data);
      return waitFor(until, timeoutMs);
    },
    closed(timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        if (ended) return resolve(buf);
        const timer = setTimeout(() => reject(new Error(`still open; got: ${JSON.stringify(buf)}`)), timeoutMs);
        socket.once('close', () => {
          clearTimeout(timer);
          resolve(buf);
        });
      });
    },
    close() {
      socket.destroy();
    },
  };
}
