import type { Secret } from '../core/index.js';

/** Extra fields as Dovecot's passdbs return them: `proxy`, `host`, `destuser`, ... */
export type Fields = Record<string, string>;

/** What a protocol front asks of the authenticator. Knows nothing of IMAP or POP3. */
export interface AuthRequest {
  /** `imap`, `pop3`, `lmtp`, `smtp`: Dovecot's %s. */
  service: string;
  /** SASL mechanism name, upper case (`PLAIN`, `LOGIN`); Dovecot's %m. */
  mech: string;
  /** The login name the client gave (authentication identity). */
  user: string;
  /** Absent for lookups without a password (LMTP recipients). */
  password?: Secret;
  /** SASL authorization identity, when it differs from `user`. */
  authzid?: string;
  /** Client (remote) and local address and port: %r %a %l %p in Dovecot's terms. */
  remoteIp: string;
  remotePort: number;
  localIp: string;
  localPort: number;
  /** TLS, or a loopback/trusted connection Dovecot treats as secured. */
  secured: boolean;
  /** The session id, logged and forwarded to backends. */
  session: string;
}

/**
 * One passdb's answer, Dovecot's `passdb_result` as a value.
 * `found` leaves the password check to the authenticator (scheme-aware);
 * `ok` and `passwordMismatch` come from drivers that check themselves (imap, ldap auth_bind).
 */
export type PassdbResult =
  | { kind: 'found'; user?: string; password: string | null; fields: Fields }
  | { kind: 'ok'; user?: string; fields: Fields }
  | { kind: 'passwordMismatch'; fields?: Fields }
  | { kind: 'userUnknown' }
  | { kind: 'userDisabled'; reason?: string }
  | { kind: 'tempFail'; reason: string };

export interface Passdb {
  /** Driver name and a short description, for logs. */
  readonly name: string;
  lookup(req: AuthRequest): Promise<PassdbResult>;
  close(): Promise<void>;
}

/** What the authenticator tells the front. `reason` is for logs, `message` for the client. */
export type AuthResult =
  | {
      kind: 'ok';
      user: string;
      fields: Fields;
      /**
       * A passdb compared the client's password (or a self-checking driver verified it).
       * False when the success rests on `nopassword` or on a NULL password accepted for
       * `proxy`: fine for a login proxy whose backend checks the forwarded password, never
       * enough for the auth service (Postfix/Exim), which must not trust an unchecked login.
       */
      passwordVerified: boolean;
    }
  | {
      kind: 'fail';
      reason: 'passwordMismatch' | 'userUnknown' | 'userDisabled';
      /** The passdb's `reason=` field, shown to the client as Dovecot does. */
      message?: string;
      fields: Fields;
    }
  | { kind: 'tempFail'; reason: string };

export interface Authenticator {
  /** Verify a login (the password, unless the passdb says `nopassword`; `passwordVerified` tells which). */
  authenticate(req: AuthRequest): Promise<AuthResult>;
  close(): Promise<void>;
}

/**
 * A password scheme: `{SHA512-CRYPT}$6$...`. `stored` is given without the `{SCHEME}` prefix.
 * Comparisons must be constant-time.
 */
export interface PasswordScheme {
  readonly name: string;
  verify(plain: string, stored: string, user: string): boolean | Promise<boolean>;
  generate(plain: string, user: string): string | Promise<string>;
}
