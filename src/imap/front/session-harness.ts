// Test support for session.test.ts (not exported from any index.ts): captured logs, a
// scripted fake IMAP backend, a throw-away certificate, and a raw socket reader.
import { execFileSync } from 'node:child_process';
import { captureLogs, type CapturedLogs, type LogRecord } from '../../../test/support/logs.js';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const WAIT_MS = 3000;


export function listen(server: Server): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

export interface BackendConn {
  received: string;
  /** Offset in `received` where the bytes after the login command start; -1 before. */
  loginEnd: number;
  socket: Socket;
}

export interface FakeBackend {
  port: number;
  conns: BackendConn[];
  close(): Promise<void>;
}

/**
 * An IMAP backend that answers the proxy's fixed tags: `I` (ID) with OK, `L LOGIN user pass`
 * with `logins["user pass"]` (raw bytes, may hold untagged lines) or a NO. After an `L OK`
 * every line `tag CMD ...` gets `tag OK CMD done`.
 */
export async function startFakeBackend(caps: string, logins: Readonly<Record<string, string>>): Promise<FakeBackend> {
  const conns: BackendConn[] = [];
  const server = createServer((socket) => {
    const c: BackendConn = { received: '', loginEnd: -1, socket };
    conns.push(c);
    let buf = '';
    socket.setEncoding('latin1');
    socket.on('error', () => {});
    socket.write(`* OK [CAPABILITY ${caps}] fake ready\r\n`);
    socket.on('data', (d: string) => {
      c.received += d;
      buf += d;
      for (let nl = buf.indexOf('\r\n'); nl >= 0; nl = buf.indexOf('\r\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const [tag, cmd = '', ...rest] = line.split(' ');
        if (c.loginEnd >= 0) socket.write(`${tag} OK ${cmd} done\r\n`);
        else if (tag === 'I') socket.write('* ID ("name" "fake")\r\nI OK ID completed.\r\n');
        else if (tag === 'L') {
          const reply = logins[rest.join(' ')] ?? 'L NO [AUTHENTICATIONFAILED] wrong\r\n';
          if (reply.includes('L OK')) c.loginEnd = c.received.length - buf.length;
          socket.write(reply);
        } else socket.write(`${tag} BAD unexpected\r\n`);
      }
    });
  });
  const port = await listen(server);
  return {
    port,
    conns,
    async close() {
      for (const c of conns) c.socket.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

/** A port nothing listens on (was free a moment ago). */
export async function deadPort(): Promise<number> {
  const s = createServer();
  const port = await listen(s);
  await new Promise((r) => s.close(r));
  return port;
}

/** A self-signed EC certificate for localhost and 127.0.0.1, made with the openssl CLI. */
export function makeCert(): { cert: Buffer; key: Buffer } {
  const dir = mkdtempSync(join(tmpdir(), 'postern-session-test-'));
  try {
    const [cert, key] = [join(dir, 'cert.pem'), join(dir, 'key.pem')];
    execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1'], { stdio: 'ignore' });
    return { cert: readFileSync(cert), key: readFileSync(key) };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Reads a socket as text, for exchanges the scripted client cannot follow (STARTTLS). */
export function collect(socket: Socket): { until(re: RegExp): Promise<string>; rest(): string; stop(): void } {
  let buf = '';
  const onData = (d: Buffer) => (buf += d.toString('latin1'));
  socket.on('data', onData);
  return {
    async until(re) {
      const deadline = Date.now() + WAIT_MS;
      for (;;) {
        const m = re.exec(buf);
        if (m) {
          const out = buf.slice(0, m.index + m[0].length);
          buf = buf.slice(out.length);
          return out;
        }
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${re}; got ${JSON.stringify(buf)}`);
        await new Promise((r) => setTimeout(r, 2));
      }
    },
    rest: () => buf,
    stop: () => socket.off('data', onData),
  };
}

export { captureLogs, type CapturedLogs, type LogRecord };
