import type { Secret } from '../../core/index.js';

/** What a finished exchange yields for the passdb: a plaintext check. */
export interface SaslCredentials {
  authcid: string;
  /** Authorization identity, when the client asked to act as another user. */
  authzid?: string;
  password: Secret;
}

export type SaslStep =
  | { kind: 'challenge'; data: Buffer }
  | { kind: 'done'; credentials: SaslCredentials }
  | { kind: 'error'; message: string };

/** One running exchange. `response` is null when the client sent no initial response. */
export interface SaslServerExchange {
  next(response: Buffer | null): SaslStep;
}

/** A mechanism descriptor; the protocol fronts add only framing. */
export interface SaslServerMechanism {
  readonly name: string;
  /** Sends the password in the clear: refused before TLS when disable_plaintext_auth is on. */
  readonly plaintext: boolean;
  start(): SaslServerExchange;
}
