import type { Secret } from '../../core/index.js';

/**
 * What a mechanism needs from the passdb chain (Dovecot's passdb_need):
 * - `plaintext`: a password the chain checks as it is (PLAIN, LOGIN);
 * - `credentials`: the stored credential in one scheme, which the mechanism checks the
 *   client's proof against (CRAM-MD5, SCRAM-*); a plaintext password can produce any scheme;
 * - `token`: a bearer token that an `oauth2` passdb verifies, or a `proxy_mech` passdb
 *   forwards to the backend (XOAUTH2, OAUTHBEARER);
 * - `certificate`: nothing secret; the TLS client certificate was the proof (EXTERNAL).
 */
export type SaslNeed =
  | { kind: 'plaintext' }
  | { kind: 'credentials'; scheme: string }
  | { kind: 'token' }
  | { kind: 'certificate' };

/** The auth-client protocol's MECH flags (Dovecot's MECH_SEC_*). */
export type SaslMechFlag = 'plaintext' | 'dictionary' | 'active' | 'mutual-auth' | 'forward-secrecy' | 'anonymous';

/** Who the client says it is: authentication identity, and the user to act as (a master-user login). */
export interface SaslIdentity {
  authcid: string;
  /** Authorization identity, when it differs from `authcid`. */
  authzid?: string;
}

/**
 * One step of an exchange, as the mechanism sees it. `verify`, `lookup` and `certificate`
 * ask the runner (server.ts) to consult the passdb chain; after a `lookup` the runner hands
 * the credential back with `credentials()`, and the mechanism answers `challenge`, `proven`
 * or `mismatch`.
 */
export type SaslStep =
  | { kind: 'challenge'; data: Buffer }
  /** A secret for the chain to check as a password: the plaintext password, or the bearer token. */
  | { kind: 'verify'; identity: SaslIdentity; secret: Secret }
  /** The stored credential is needed in `scheme`. */
  | { kind: 'lookup'; identity: SaslIdentity; scheme: string }
  /** The client proved it holds the credential; `data` is the server's last message (SCRAM's verifier). */
  | { kind: 'proven'; data?: Buffer }
  | { kind: 'mismatch' }
  /** EXTERNAL: the identity the TLS client certificate proved. */
  | { kind: 'certificate'; identity: SaslIdentity }
  /** Malformed input. `data`: an error message the client is owed first (OAuth's JSON, RFC 7628 §3.2.2). */
  | { kind: 'invalid'; message: string; data?: Buffer };

/** One running exchange. `response` is null when the client sent no initial response. */
export interface SaslServerExchange {
  next(response: Buffer | null): SaslStep;
  /** The credential a `lookup` step asked for, in its scheme's stored form (mechanisms that look up). */
  credentials?(stored: string): SaslStep;
  /** Token mechanisms: the error message owed to the client when the chain refused the token. */
  rejected?(): Buffer;
}

/** What an exchange may learn from its connection. */
export interface SaslStartContext {
  /** The user name of the verified TLS client certificate, if there is one (EXTERNAL). */
  certUsername?: string;
  /** The server's random part: CRAM-MD5's whole challenge, SCRAM's server nonce. Injected in tests to replay RFC vectors. */
  challenge?: () => string;
}

/** A mechanism descriptor (STYLE practice 9): what it needs and how it steps; fronts add only framing. */
export interface SaslServerMechanism {
  /** Upper case, as advertised. */
  readonly name: string;
  readonly needs: SaslNeed;
  /** MECH flags; `plaintext` also means refused before TLS while disable_plaintext_auth is on. */
  readonly flags: readonly SaslMechFlag[];
  start(ctx?: SaslStartContext): SaslServerExchange;
}
