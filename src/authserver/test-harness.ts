// Test support for the auth service's protocol tests (not exported from index.ts): an AuthService
// on a real loopback or unix-socket listener, captured logs, and a line-reading raw client.
import { createConnection, type Socket } from 'node:net';
import { captureLogs, type CapturedLogs, type LogRecord } from '../../test/support/logs.js';
import type { AuthPolicy, Authenticator } from '../auth/index.js';
import { Listener, type ListenConfig, type NetworkList } from '../net/index.js';
import { AuthService } from './service.js';

export const WAIT_MS = 3000;


export interface Harness {
  service: AuthService;
  logs: CapturedLogs;
  /** The delays the service asked for (the failure delay), instead of sleeping. */
  delays: number[];
  /** A new client connection to the listener. */
  connect(): Promise<RawClient>;
  close(): Promise<void>;
}

/** An AuthService behind a real Listener: TCP on 127.0.0.1 by default, or `{ path }` for a unix socket. */
export async function startHarness(authenticator: Authenticator, opts: { path?: string; mode?: string; failureDelayMs?: number; mechanisms?: string[]; policy?: AuthPolicy; trustedNetworks?: NetworkList } = {}): Promise<Harness> {
  const logs = captureLogs();
  const delays: number[] = [];
  const service = new AuthService({
    authenticator,
    mechanisms: opts.mechanisms ?? ['PLAIN', 'LOGIN'],
    ...(opts.policy ? { policy: opts.policy } : { failureDelayMs: opts.failureDelayMs ?? 2000, sleep: async (ms: number) => void delays.push(ms) }),
    ...(opts.trustedNetworks ? { trustedNetworks: opts.trustedNetworks } : {}),
    log: logs.log,
  });
  const config: ListenConfig =
    opts.path !== undefined
      ? { protocol: 'auth', address: '0.0.0.0', path: opts.path, ...(opts.mode ? { mode: opts.mode } : {}), tls: 'none' }
      : { protocol: 'auth', address: '127.0.0.1', port: 0, tls: 'none' };
  const listener = new Listener(config, undefined, service.accept, logs.log);
  const addr = await listener.listen();
  const clients: RawClient[] = [];
  return {
    service,
    logs,
    delays,
    async connect() {
      const c = await RawClient.connect(opts.path !== undefined ? { path: opts.path } : { host: '127.0.0.1', port: addr.port });
      clients.push(c);
      return c;
    },
    async close() {
      for (const c of clients) c.destroy();
      service.destroy();
      listener.destroy();
      await listener.close();
    },
  };
}

/** A raw protocol client: what it sends is written as is; what it receives is split into lines. */
export class RawClient {
  readonly socket: Socket;
  readonly lines: string[] = [];
  /** Each chunk as it arrived, to see what came in one write. */
  readonly chunks: string[] = [];
  #buf = '';
  #closed = false;
  #taken = new Set<number>();
  #waiters = new Set<() => void>();

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      this.chunks.push(d);
      this.#buf += d;
      for (let nl = this.#buf.indexOf('\n'); nl >= 0; nl = this.#buf.indexOf('\n')) {
        this.lines.push(this.#buf.slice(0, nl));
        this.#buf = this.#buf.slice(nl + 1);
      }
      this.#wake();
    });
    socket.on('error', () => {});
    socket.on('close', () => {
      this.#closed = true;
      this.#wake();
    });
  }

  static connect(to: { path: string } | { host: string; port: number }): Promise<RawClient> {
    return new Promise((resolve, reject) => {
      const s = createConnection(to as never);
      s.once('connect', () => resolve(new RawClient(s)));
      s.once('error', reject);
    });
  }

  get closed(): boolean {
    return this.#closed;
  }

  #wake(): void {
    for (const w of this.#waiters) w();
  }

  #until<T>(probe: () => T | undefined, what: string): Promise<T> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const v = probe();
        if (v !== undefined) {
          cleanup();
          resolve(v);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`timed out waiting for ${what}; lines so far:\n${this.lines.join('\n')}`));
      }, WAIT_MS);
      const cleanup = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** Sends text as it is (include the \n). */
  send(text: string): void {
    this.socket.write(text);
  }

  /** The handshake, up to and including DONE. */
  handshake(): Promise<string[]> {
    return this.#until(() => {
      const i = this.lines.indexOf('DONE');
      return i < 0 ? undefined : this.lines.slice(0, i + 1);
    }, 'DONE');
  }

  /** The first line after the handshake that starts with `prefix` (e.g. `OK\t1\t`), removed from later searches. */
  reply(prefix: string): Promise<string> {
    return this.#until(() => {
      const start = this.lines.indexOf('DONE') + 1;
      for (let i = start; i < this.lines.length; i++) {
        if (!this.#taken.has(i) && this.lines[i]!.startsWith(prefix)) {
          this.#taken.add(i);
          return this.lines[i]!;
        }
      }
      return undefined;
    }, `a line starting ${JSON.stringify(prefix)}`);
  }

  /** Lines after the handshake. */
  replies(): string[] {
    return this.lines.slice(this.lines.indexOf('DONE') + 1);
  }

  waitClosed(): Promise<true> {
    return this.#until(() => (this.#closed ? true : undefined), 'the server to close the connection');
  }

  destroy(): void {
    this.socket.destroy();
  }
}

export { captureLogs, type CapturedLogs, type LogRecord };
