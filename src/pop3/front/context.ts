import type { Secret } from '../../core/index.js';
import type { ForwardedFields } from '../../login/index.js';

/** What a pre-login command may do to its session; the session owns state and I/O. */
export interface Pop3FrontContext {
  readonly secured: boolean;
  readonly tlsAvailable: boolean;
  /** The peer is in login_trusted_networks: its XCLIENT is honoured. */
  readonly trusted: boolean;
  /** USER/PASS and plaintext SASL mechanisms are allowed on this connection now. */
  plaintextAllowed(): boolean;
  /** SASL mechanisms offered now. */
  mechanisms(): string[];
  capabilities(): string[];
  /** "+OK[ text]" */
  ok(text?: string): void;
  /** "-ERR text" */
  err(text: string): void;
  /** Lines as they are, each with its CRLF (multi-line replies). */
  raw(text: string): void;
  /** The name from USER, waiting for PASS (RFC 1939 §7). */
  pendingUser: string | undefined;
  startTls(): Promise<void>;
  login(mech: string, user: string, password: Secret): Promise<void>;
  beginAuth(mech: string, initialResponse: string | undefined): Promise<void>;
  /** A trusted proxy's client identity; false when a value is malformed (nothing is changed then). */
  xclient(fields: ForwardedFields): boolean;
  quit(): void;
}

export interface Pop3CommandDescriptor {
  /** Upper case, as the reader gives it. */
  readonly name: string;
  run(ctx: Pop3FrontContext, args: string): void | Promise<void>;
}
