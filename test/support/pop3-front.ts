// Runs Pop3LoginSession over loopback sockets with the in-memory passdb: fronts tested fast, no Dovecot.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { MemoryAuthenticator, type Authenticator, type MemoryUsers } from '../../src/auth/index.js';
import { createLogger } from '../../src/log/index.js';
import { FrontSasl, LoginService } from '../../src/login/index.js';
import { NetworkList, normalizeIp, type Connection } from '../../src/net/index.js';
import { Pop3LoginSession, pop3ConfigSchema } from '../../src/pop3/index.js';
import { proxyConfigSchema } from '../../src/proxy/index.js';
import type { LogRecord } from './postern.js';

export interface FrontOptions {
  users: MemoryUsers;
  /** The address the session believes the client has (default: the real loopback peer). */
  remoteIp?: string;
  trustedNetworks?: string[];
  pop3?: Record<string, unknown>;
  disablePlaintextAuth?: boolean;
  proxyTtl?: number;
  /** Offered SASL mechanisms (default PLAIN LOGIN). */
  mechanisms?: string[];
  /** Instead of a MemoryAuthenticator over `users` (master users, say). */
  authenticator?: Authenticator;
}

export interface TestFront {
  port: number;
  logs: LogRecord[];
  waitForLog(pred: (r: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
  close(): Promise<void>;
}

export async function startPop3Front(opts: FrontOptions): Promise<TestFront> {
  const logs: LogRecord[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogRecord);
      cb();
    },
  });
  const log = createLogger({ format: 'json', level: 'debug' }, sink);
  const login = new LoginService({
    authenticator: opts.authenticator ?? new MemoryAuthenticator(opts.users),
    proxy: proxyConfigSchema.parse({ max_reconnects: 0, timeout: '5s' }),
    failureDelayMs: 0,
    isSelf: () => false,
  });
  const sockets = new Set<Socket>();
  const sessions = new Set<Pop3LoginSession>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => {});
    const conn: Connection = {
      socket,
      remoteIp: opts.remoteIp ?? normalizeIp(socket.remoteAddress),
      remotePort: socket.remotePort ?? 0,
      localIp: normalizeIp(socket.localAddress),
      localPort: socket.localPort ?? 0,
      secured: false,
      listener: 'pop3-test',
    };
    const plaintext = { disablePlaintextAuth: opts.disablePlaintextAuth ?? true, trustedNetworks: new NetworkList(opts.trustedNetworks ?? []) };
    const deps = { pop3: pop3ConfigSchema.parse(opts.pop3 ?? {}), ...plaintext, sasl: new FrontSasl(opts.mechanisms ?? ['PLAIN', 'LOGIN'], plaintext), login, idleTimeoutMs: 60_000, proxyTtl: opts.proxyTtl ?? 7, log };
    const session = new Pop3LoginSession(conn, deps, () => sessions.delete(session));
    sessions.add(session);
    session.start();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    logs,
    async waitForLog(pred, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hit = logs.find(pred);
        if (hit) return hit;
        if (Date.now() > until) throw new Error(`no matching log line within ${timeoutMs} ms; have:\n${logs.map((l) => JSON.stringify(l)).join('\n')}`);
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy('shutdown');
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
