import { connect as netConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type ConnectionOptions as TlsConnectOptions } from 'node:tls';
import { createRequire } from 'node:module';
import type * as Ldapts from 'ldapts';
import type { Client } from 'ldapts';
import type { Secret } from '../../core/index.js';
import type { AuthLogger } from '../deps.js';
import type { LdapServer, LdapTls } from './ldap-settings.js';

/*
 * Connections to the LDAP server for the ldap passdb. Each ldapts Client here is one
 * TCP connection: its socket factory works once, so ldapts can never reconnect behind
 * our back (it would do so without StartTLS and without the bind). A lost connection
 * is replaced by a new one, opened, upgraded and bound afresh.
 */

/** Dovecot's DB_LDAP_CONNECT_TIMEOUT_SECS. */
export const CONNECT_TIMEOUT_MS = 5_000;
/** Dovecot's DB_LDAP_REQUEST_LOST_TIMEOUT_SECS: a request unanswered this long drops the connection. */
export const REQUEST_TIMEOUT_MS = 60_000;

/** RFC 4511 result codes the driver tells apart. */
export const LdapResult = {
  noSuchObject: 32,
  invalidCredentials: 49,
  busy: 51,
  unavailable: 52,
} as const;

let lib: typeof Ldapts | undefined;

/** ldapts, loaded by the first ldap passdb: a postern without one never loads it. */
export function ldapts(): typeof Ldapts {
  return (lib ??= createRequire(import.meta.url)('ldapts') as typeof Ldapts);
}

/** No server could be reached (or the connection broke twice). The message has no secrets. */
export class LdapUnavailableError extends Error {
  override readonly name = 'LdapUnavailableError';
}

/** The server answered with an LDAP error result (the connection is fine). */
export function ldapResultCode(err: unknown): number | undefined {
  return err instanceof ldapts().ResultCodeError ? err.code : undefined;
}

/** A short description for logs: an errno code or ldapts's message, never a password. */
export function describeLdapError(err: unknown): string {
  if (err instanceof ldapts().ResultCodeError) {
    // ldapts's message is the server's diagnostic (often empty) plus " Code: 0x31".
    const diag = err.message.replace(/\s*Code: 0x[0-9a-f]+$/i, '').trim().slice(0, 200);
    return `${err.name.replace(/Error$/, '')} (${err.code})${diag ? `: ${diag}` : ''}`;
  }
  const e = err as NodeJS.ErrnoException;
  if (typeof e?.code === 'string') return e.code;
  const msg = e instanceof Error ? e.message : String(err);
  return msg.split('\n')[0]!.slice(0, 200);
}

export interface LdapConnectionOptions {
  servers: readonly LdapServer[];
  startTls: boolean;
  tls: LdapTls;
  /** Bound after connecting; anonymous (an explicit anonymous bind, as Dovecot) when unset. */
  bindDn?: string;
  bindPassword?: Secret;
  /** `search` or `auth bind`, for logs. */
  purpose: string;
  log: AuthLogger;
  connectTimeoutMs?: number;
  requestTimeoutMs?: number;
}

interface Live {
  client: Client;
  server: LdapServer;
  /** The connection's own socket (TCP, Unix or, for ldaps, TLS), once ldapts made it. */
  socket: Socket | undefined;
  alive: boolean;
}

function tlsOptionsFor(server: LdapServer, tls: LdapTls): TlsConnectOptions {
  return {
    host: server.host,
    ...(isIP(server.host) === 0 ? { servername: server.host } : {}),
    rejectUnauthorized: tls.rejectUnauthorized,
    ...(tls.ca ? { ca: tls.ca } : {}),
    ...(tls.cert ? { cert: tls.cert } : {}),
    ...(tls.key ? { key: tls.key } : {}),
    ...(tls.ciphers ? { ciphers: tls.ciphers } : {}),
  };
}

const lost = (): never => {
  throw new LdapUnavailableError('connection lost');
};

/** One connection at a time, reopened on demand. */
export class LdapConnection {
  readonly #opts: LdapConnectionOptions;
  #live: Live | undefined;
  #opening: Promise<Live> | undefined;
  #down = false;
  #closed = false;

  constructor(opts: LdapConnectionOptions) {
    this.#opts = opts;
  }

  /**
   * Runs `op` on a bound connection. A failure that is not an LDAP result (socket
   * closed, timeout) drops the connection and tries once more on a new one, so a
   * server restart costs no login. Throws LdapUnavailableError or the LDAP result error.
   */
  async run<T>(op: (client: Client) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const live = await this.#get();
      try {
        return await op(live.client);
      } catch (err) {
        const code = ldapResultCode(err);
        const broken = code === undefined || code === LdapResult.busy || code === LdapResult.unavailable;
        if (!broken) throw err;
        this.#drop(live);
        if (this.#closed) throw new LdapUnavailableError('passdb closed');
        const why = `${live.server.label}: ${describeLdapError(err)}`;
        if (attempt >= 1) throw new LdapUnavailableError(why);
        this.#opts.log.info({ server: live.server.label, purpose: this.#opts.purpose, error: describeLdapError(err) }, 'LDAP connection lost, reconnecting');
      }
    }
  }

  async #get(): Promise<Live> {
    if (this.#closed) throw new LdapUnavailableError('passdb closed');
    const live = this.#live;
    if (live?.alive && live.client.isConnected) return live;
    if (live) this.#drop(live);
    this.#opening ??= this.#open().finally(() => {
      this.#opening = undefined;
    });
    return this.#opening;
  }

  async #open(): Promise<Live> {
    const failures: string[] = [];
    for (const server of this.#opts.servers) {
      try {
        const live = await this.#connect(server);
        if (this.#closed) {
          this.#drop(live);
          throw new LdapUnavailableError('passdb closed');
        }
        this.#live = live;
        if (this.#down) this.#opts.log.info({ server: server.label, purpose: this.#opts.purpose }, 'LDAP server available again');
        this.#down = false;
        return live;
      } catch (err) {
        if (err instanceof LdapUnavailableError && this.#closed) throw err;
        failures.push(`${server.label}: ${describeLdapError(err)}`);
      }
    }
    const why = `no LDAP server available (${failures.join('; ')})`;
    // One warning per outage, not one per login.
    if (!this.#down) this.#opts.log.warn({ purpose: this.#opts.purpose }, why);
    this.#down = true;
    throw new LdapUnavailableError(why);
  }

  async #connect(server: LdapServer): Promise<Live> {
    const o = this.#opts;
    const secure = server.url.startsWith('ldaps:');
    const live: Live = { client: undefined as unknown as Client, server, socket: undefined, alive: true };
    const once = <S extends Socket>(make: () => S): S => {
      if (live.socket !== undefined) lost();
      const s = make();
      live.socket = s;
      // The socket's close is the truth: ldapts misses it after StartTLS.
      s.once('close', () => {
        live.alive = false;
      });
      return s;
    };
    const tlsOptions = tlsOptionsFor(server, o.tls);
    live.client = new (ldapts().Client)({
      url: server.url,
      connectTimeout: o.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
      timeout: o.requestTimeoutMs ?? REQUEST_TIMEOUT_MS,
      ...(secure
        ? {
            tlsOptions,
            createSecureConnection: ((port: number, host: string, opts: TlsConnectOptions) =>
              once(() => tlsConnect({ ...opts, port, host }))) as typeof tlsConnect,
          }
        : {
            createConnection: ((port: number, host: string) =>
              once(() => (server.socketPath !== undefined ? netConnect(server.socketPath) : netConnect(port, host)))) as typeof netConnect,
          }),
    });
    const timer = setTimeout(() => this.#drop(live), (o.connectTimeoutMs ?? CONNECT_TIMEOUT_MS) * 2);
    try {
      if (o.startTls) await live.client.startTLS(tlsOptions);
      // Binding also proves the connection works, so a dead server fails over here.
      await live.client.bind(o.bindDn ?? '', o.bindDn === undefined ? '' : (o.bindPassword?.reveal() ?? ''));
      if (!live.alive) lost();
    } catch (err) {
      this.#drop(live);
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return live;
  }

  #drop(live: Live): void {
    const wasAlive = live.alive && live.socket !== undefined && !live.socket.destroyed;
    live.alive = false;
    if (this.#live === live) this.#live = undefined;
    // A polite UnbindRequest on a working connection (ldapts then closes it); a closed one
    // just goes: writing to it would leave ldapts waiting for a write that never completes.
    if (wasAlive) live.client.unbind().catch(() => undefined);
    else live.socket?.destroy();
  }

  /** Unbinds and closes. Idempotent; later run() calls fail with LdapUnavailableError. */
  async close(): Promise<void> {
    this.#closed = true;
    const live = this.#live;
    this.#live = undefined;
    if (live?.alive) {
      live.alive = false;
      await live.client.unbind().catch(() => undefined);
    } else live?.socket?.destroy();
  }
}

/** Hands out at most `size` connections for user binds, one bind at a time each. */
export class LdapBindPool {
  readonly #idle: LdapConnection[] = [];
  readonly #all: LdapConnection[] = [];
  readonly #waiters: Array<(c: LdapConnection | undefined) => void> = [];
  #closed = false;

  constructor(
    private readonly make: () => LdapConnection,
    private readonly size: number,
    private readonly maxWaiting: number,
  ) {}

  async run<T>(op: (client: Client) => Promise<T>): Promise<T> {
    const conn = await this.#acquire();
    try {
      return await conn.run(op);
    } finally {
      this.#release(conn);
    }
  }

  async #acquire(): Promise<LdapConnection> {
    if (this.#closed) throw new LdapUnavailableError('passdb closed');
    const idle = this.#idle.pop();
    if (idle) return idle;
    if (this.#all.length < this.size) {
      const c = this.make();
      this.#all.push(c);
      return c;
    }
    if (this.#waiters.length >= this.maxWaiting) throw new LdapUnavailableError('too many LDAP binds waiting');
    const c = await new Promise<LdapConnection | undefined>((resolve) => this.#waiters.push(resolve));
    if (c === undefined) throw new LdapUnavailableError('passdb closed');
    return c;
  }

  #release(c: LdapConnection): void {
    const next = this.#waiters.shift();
    if (next) next(c);
    else this.#idle.push(c);
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const w of this.#waiters.splice(0)) w(undefined);
    await Promise.all(this.#all.map((c) => c.close()));
  }
}
