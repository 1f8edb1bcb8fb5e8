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
  /**
   * Leave this request out of the per-address failure penalty: Dovecot's `no-penalty`,
   * set for connections from login_trusted_networks (webmail).
   */
  noPenalty?: boolean;
}

/**
 * An AuthRequest written out whole, each optional field present (maybe undefined): the request of a
 * login is built as one literal of one shape, and a field added to AuthRequest must be added there too.
 */
export type WholeAuthRequest = { [K in keyof Required<AuthRequest>]: AuthRequest[K] | undefined };

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
  /**
   * Templates whose %variables the answer depends on (the query, the path, the filter),
   * from which the auth cache builds its key; undefined: the answers are never cached.
   */
  readonly cacheKey?: string;
  lookup(req: AuthRequest): Promise<PassdbResult>;
  close(): Promise<void>;
}

/**
 * What a configured passdb can verify beyond a plaintext password (which every passdb
 * checks), for offering SASL mechanisms: the schemes its stored passwords are in (PLAIN
 * produces any credential; a hash only its own), whether it checks bearer tokens itself
 * (oauth2), and the proxy_mech values it may return ('*' when a variable or column decides).
 */
export interface PassdbAbilities {
  readonly schemes: readonly string[];
  readonly tokens?: boolean;
  readonly proxyMechs?: readonly string[];
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
      /** `authzFailed`: a master user proved who they are, but may not act as the user they asked for. */
      reason: 'passwordMismatch' | 'userUnknown' | 'userDisabled' | 'authzFailed';
      /** The passdb's `reason=` field, shown to the client as Dovecot does. */
      message?: string;
      fields: Fields;
    }
  | { kind: 'tempFail'; reason: string };

export interface Authenticator {
  /** Verify a login (the password, unless the passdb says `nopassword`; `passwordVerified` tells which). */
  authenticate(req: AuthRequest): Promise<AuthResult>;
  /**
   * Dovecot's lookup_credentials, for CRAM-MD5 and SCRAM: the chain's stored credential for
   * `req.user` in `scheme`. Absent: only plaintext, token and certificate mechanisms work.
   */
  lookupCredentials?(req: AuthRequest, scheme: string): Promise<CredentialsResult>;
  /** The chain without a password check, for a user the TLS client certificate proved (EXTERNAL). */
  lookupUser?(req: AuthRequest): Promise<AuthResult>;
  close(): Promise<void>;
}

/**
 * lookupCredentials's answer. `ok` carries the credential (in the scheme's stored form)
 * and `complete()`, which says what the login becomes once the mechanism has checked the
 * client's proof against it: the chain's success, or for a master user the target's lookup.
 */
export type CredentialsResult =
  | { kind: 'ok'; credentials: string; complete(): Promise<AuthResult> }
  | Extract<AuthResult, { kind: 'fail' | 'tempFail' }>;

/**
 * A password scheme: `{SHA512-CRYPT}$6$...`. `stored` is given without the `{SCHEME}` prefix.
 * Comparisons must be constant-time.
 */
export interface PasswordScheme {
  readonly name: string;
  verify(plain: string, stored: string, user: string): boolean | Promise<boolean>;
  generate(plain: string, user: string): string | Promise<string>;
}
