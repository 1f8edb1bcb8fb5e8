// The LMTP proxy front on loopback over a scripted passdb, for session tests without postern's server.
import { createServer, type AddressInfo, type Server } from 'node:net';
import type { AuthResult, Authenticator } from '../../src/auth/index.js';
import { silentLogger, type Logger } from '../../src/log/index.js';
import { LmtpSession, type LmtpSessionOptions } from '../../src/lmtp/index.js';

/** Recipients and their passdb answers; `tempfail@x` makes the passdb fail. `seen` gets every lookup. */
export function fakeAuth(users: Record<string, Record<string, string>>, seen: Array<{ user: string; remoteIp: string; remotePort: number }> = []): Authenticator {
  return {
    authenticate: () => Promise.reject(new Error('not used')),
    lookupUser: async (req): Promise<AuthResult> => {
      seen.push({ user: req.user, remoteIp: req.remoteIp, remotePort: req.remotePort });
      if (req.user === 'tempfail@x') return { kind: 'tempFail', reason: 'db down' };
      const fields = users[req.user];
      return fields ? { kind: 'ok', user: req.user, fields, passwordVerified: false } : { kind: 'fail', reason: 'userUnknown', fields: {} };
    },
    close: async () => {},
  };
}

export interface TestFront {
  port: number;
  server: Server;
  sessions: Set<LmtpSession>;
  close(): Promise<void>;
}

export type FrontOptions = Partial<Omit<LmtpSessionOptions, 'authenticator' | 'onClose'>> & { log?: Logger };

export async function startFront(auth: Authenticator, o: FrontOptions = {}): Promise<TestFront> {
  const sessions = new Set<LmtpSession>();
  const server = createServer((socket) => {
    const session = new LmtpSession(
      { socket, remoteIp: '127.0.0.1', remotePort: socket.remotePort ?? 0, localIp: '127.0.0.1', localPort: 0, secured: false, listener: 'test' },
      {
        authenticator: auth, hostname: 'front.test', maxMessageBytes: 64_000_000, idleTimeoutMs: 10_000, proxyTimeoutMs: 5000,
        isSelf: () => false, session: 'S1', proxyTtl: 5, log: silentLogger(), ...o, onClose: () => sessions.delete(session),
      },
    );
    sessions.add(session);
    session.start();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port, server, sessions,
    close: () => new Promise<void>((r) => {
      for (const s of sessions) s.destroy('test end');
      server.close(() => r());
    }),
  };
}

export async function until(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 10));
  }
}
