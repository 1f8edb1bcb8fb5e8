import { AuthPolicy, type Authenticator, type Sleep } from '../auth/index.js';
import { getMechanism, type SaslServerMechanism } from '../auth/sasl/index.js';
import { PosternError } from '../core/index.js';
import type { Logger } from '../log/index.js';
import { nodeConnection, type Connection, type NetworkList } from '../net/index.js';
import { AuthClientConnection } from './connection.js';

export interface AuthServiceOptions {
  /** The same passdb chain the IMAP and POP3 logins use. */
  authenticator: Authenticator;
  /** The offered auth.mechanisms: announced in MECH lines, in this order. */
  mechanisms: readonly string[];
  /** The process's failure delay and penalty, shared with the IMAP and POP3 logins. */
  policy?: AuthPolicy;
  /** Without `policy`: auth.failure_delay alone, no penalty (tests). */
  failureDelayMs?: number;
  /** Without `policy`: how the failure delay is waited (injected in tests). */
  sleep?: Sleep;
  /** login_trusted_networks: SMTP clients (`rip`) there are exempt from the penalty, like IMAP and POP3 clients. */
  trustedNetworks?: NetworkList;
  log: Logger;
}

/**
 * Dovecot's auth service for MTAs: Postfix (`smtpd_sasl_type = dovecot`) and Exim's `dovecot`
 * authenticator connect to an `auth` listener (TCP or unix socket) and ask it to check SMTP AUTH
 * logins against postern's passdbs. Only checked passwords succeed: see docs/auth-service.md.
 */
export class AuthService {
  readonly #opts: AuthServiceOptions;
  readonly #mechanisms: ReadonlyMap<string, SaslServerMechanism>;
  readonly #connections = new Set<AuthClientConnection>();
  readonly #log: Logger;
  readonly #policy: AuthPolicy;
  #cuid = 0;
  #closed = false;

  constructor(opts: AuthServiceOptions) {
    this.#opts = opts;
    this.#log = opts.log.child({ module: 'authserver' });
    this.#policy = opts.policy ?? new AuthPolicy({ failureDelayMs: opts.failureDelayMs ?? 0, penalty: false, ...(opts.sleep ? { sleep: opts.sleep } : {}) });
    const mechs = new Map<string, SaslServerMechanism>();
    for (const name of opts.mechanisms) {
      const m = getMechanism(name);
      if (!m) throw new PosternError('POSTERN_AUTHSERVER_MECH', `the auth service has no SASL mechanism ${name}`);
      mechs.set(m.name, m);
    }
    this.#mechanisms = mechs;
  }

  /** A ConnectionHandler for `auth` listeners. */
  readonly accept = (front: Connection): void => {
    const conn = nodeConnection(front);
    if (this.#closed) {
      conn.socket.destroy();
      return;
    }
    this.#cuid = (this.#cuid % 0xffffffff) + 1;
    const c = new AuthClientConnection(conn, {
      authenticator: this.#opts.authenticator,
      mechanisms: this.#mechanisms,
      policy: this.#policy,
      ...(this.#opts.trustedNetworks ? { trustedNetworks: this.#opts.trustedNetworks } : {}),
      log: this.#log,
      cuid: this.#cuid,
      onClose: () => this.#connections.delete(c),
    });
    this.#connections.add(c);
    c.start();
  };

  get connectionCount(): number {
    return this.#connections.size;
  }

  /** Takes no new connections; each one ends once its requests in flight have answered. Idempotent. */
  close(): void {
    this.#closed = true;
    for (const c of this.#connections) c.close();
  }

  /** Ends every connection now. Idempotent. */
  destroy(): void {
    this.#closed = true;
    for (const c of [...this.#connections]) c.destroy();
  }
}
