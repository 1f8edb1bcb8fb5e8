import type { AuthRequest, AuthResult, Fields } from '../auth/index.js';
import type { AnySocket } from '../net/index.js';
import type { BackendLogin, BackendTarget, ProxyFailure } from '../proxy/index.js';
import type { Socket } from 'node:net';

/** What a protocol front gives the login path: its default port and how it logs in to a backend. */
export interface ProtocolLogin {
  protocol: 'imap' | 'pop3';
  defaultPort: number;
  /** The implicit-TLS port, used for `ssl=yes` without `port`. */
  defaultTlsPort?: number;
  makeBackendLogin(target: BackendTarget): BackendLogin;
  /** The native relay can carry the client's connection after login (a native connection, plain or TLS, or plain TCP). */
  relayableClient?: boolean;
}

/** Every way a login can end, for the front to turn into its own protocol's reply. */
export type LoginOutcome =
  | { kind: 'authFailed'; reason: Extract<AuthResult, { kind: 'fail' }>['reason']; message?: string }
  | { kind: 'authTempFail'; reason: string }
  | { kind: 'nologin'; user: string; reason?: string }
  | { kind: 'referral'; user: string; host: string; port?: number; nologin: boolean; reason?: string }
  /** The user is to be served here, which this build cannot do yet. */
  | { kind: 'local'; user: string }
  /** The passdb's routing fields are unusable or loop back to us: an operator's problem. */
  | { kind: 'misrouted'; user: string; detail: string; loop: boolean }
  | { kind: 'proxyFailed'; user: string; target: BackendTarget; failure: ProxyFailure; attempts: number }
  /** limits.max_userip_connections: the user has as many sessions from this address as allowed. */
  | { kind: 'limitReached'; user: string; limit: 'userip'; max: number }
  | {
      kind: 'proxied';
      user: string;
      fields: Fields;
      target: BackendTarget;
      socket: AnySocket;
      /** Backend output to relay before the final reply, then the final reply itself. */
      forwarded: Buffer[];
      clientReply: Buffer | string;
      /** Backend bytes that came after the final reply. */
      leftover: Buffer;
      attempts: number;
      elapsedMs: number;
      /** The backend closed the session: ms to hold the client before closing it. Absent: close at once. */
      clientCloseDelay?: () => number;
      /** The session is over: gives back its user+IP place and its part in the backend's disconnect count. Idempotent. */
      release?: () => void;
    };

export type { AuthRequest };
