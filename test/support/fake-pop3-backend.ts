import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** How the fake answers one line; undefined falls through to the default script. */
export type Pop3Script = (line: string, state: { loggedIn: boolean; user?: string }) => string | undefined;

export interface FakePop3Backend {
  port: number;
  /** Every line received, in order, over all connections. */
  lines: string[];
  /** Resolves once `n` lines have arrived (bounded). */
  waitForLines(n: number, timeoutMs?: number): Promise<string[]>;
  close(): Promise<void>;
}

/**
 * A tiny POP3 server for front tests: the banner, then XCLIENT → "+OK Updated", USER → "+OK",
 * PASS <password> / AUTH PLAIN → "+OK Logged in." or "-ERR [AUTH] Authentication failed.",
 * STAT → "+OK 1 42", QUIT → "+OK Bye" and close. `script` may answer first.
 */
export async function startFakePop3Backend(opts: { banner?: string; password?: string; script?: Pop3Script } = {}): Promise<FakePop3Backend> {
  const lines: string[] = [];
  const sockets = new Set<Socket>();
  const password = opts.password ?? 'backend-pw';
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const state: { loggedIn: boolean; user?: string } = { loggedIn: false };
    let buf = '';
    socket.write(`${opts.banner ?? '+OK [XCLIENT] fake ready.'}\r\n`);
    socket.on('data', (d) => {
      buf += d.toString('latin1');
      for (let nl = buf.indexOf('\n'); nl >= 0; nl = buf.indexOf('\n')) {
        const line = buf.slice(0, nl).replace(/\r$/, '');
        buf = buf.slice(nl + 1);
        lines.push(line);
        const reply = opts.script?.(line, state) ?? answer(line, state, password);
        if (reply === 'CLOSE') {
          socket.end('+OK Logging out.\r\n');
          return;
        }
        socket.write(`${reply}\r\n`);
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    lines,
    async waitForLines(n, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      while (lines.length < n) {
        if (Date.now() > until) throw new Error(`backend got ${lines.length} lines, wanted ${n}: ${JSON.stringify(lines)}`);
        await new Promise((r) => setTimeout(r, 10));
      }
      return lines;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

function answer(line: string, state: { loggedIn: boolean; user?: string }, password: string): string {
  const [cmd = '', ...rest] = line.split(' ');
  const arg = rest.join(' ');
  switch (cmd.toUpperCase()) {
    case 'XCLIENT':
      return '+OK Updated';
    case 'USER':
      state.user = arg;
      return '+OK';
    case 'PASS':
      state.loggedIn = arg === password;
      return state.loggedIn ? '+OK Logged in.' : '-ERR [AUTH] Authentication failed.';
    case 'AUTH': {
      const parts = Buffer.from(rest[1] ?? '', 'base64').toString('utf8').split('\0');
      state.loggedIn = parts[2] === password;
      return state.loggedIn ? '+OK Logged in.' : '-ERR [AUTH] Authentication failed.';
    }
    case 'STAT':
      return state.loggedIn ? '+OK 1 42' : '-ERR Unknown command.';
    case 'QUIT':
      return 'CLOSE';
    default:
      return '-ERR Unknown command.';
  }
}
