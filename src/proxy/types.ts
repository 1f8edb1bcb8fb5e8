import type { Secret } from '../core/index.js';

export type BackendTls = 'none' | 'implicit' | 'starttls';

/** Everything needed to reach one backend and log a user in there. */
export interface BackendTarget {
  /** As the passdb gave it (a name is kept for certificate checks). */
  host: string;
  port: number;
  tls: BackendTls;
  /** ssl=yes / starttls=yes verify the certificate and host name; `any-cert` does not. */
  verifyCert: boolean;
  /** The user to log in as at the backend: destuser, else the authenticated user. */
  user: string;
  /** The client's password, or the passdb's `pass` field. */
  password?: Secret;
  /** Log in as this master user with `user` as authorization identity. */
  master?: string;
  /** SASL mechanism to use instead of LOGIN/USER+PASS (proxy_mech). */
  mech?: string;
  nopipelining: boolean;
  /** proxy_not_trusted: do not forward the client's identity (ID / XCLIENT). */
  notTrusted: boolean;
  sourceIp?: string;
  timeoutMs: number;
}

/**
 * Why a proxied login failed, Dovecot's login_proxy_failure_type as a value.
 * The kind alone decides the client's reply, whether to reconnect and the log level.
 */
export type ProxyFailureKind =
  | 'connect' // could not connect, or the connection dropped before login finished
  | 'timeout'
  | 'protocol' // the backend said something we cannot follow
  | 'config' // remote or local misconfiguration: TLS verification, STARTTLS missing, loops
  | 'authRefused' // the backend refused the credentials
  | 'authTempFail' // the backend said try later ([UNAVAILABLE], [SYS/TEMP])
  | 'remoteCode' // the backend refused with another response code, forwarded as it is
  | 'internal';

export interface ProxyFailure {
  kind: ProxyFailureKind;
  /** For the log line; may contain backend text, never credentials. */
  detail: string;
  /** The backend's own reply line, for kinds that forward it (`authTempFail`, `remoteCode`). */
  remoteReply?: string;
}

/** One action the protocol's backend-login machine asks of the I/O layer. */
export type LoginStep =
  | { kind: 'write'; data: Buffer | string }
  | { kind: 'starttls' }
  /** Backend output the client must see before the final reply (untagged lines). */
  | { kind: 'forward'; data: Buffer }
  | { kind: 'success'; clientReply: Buffer | string; leftover: Buffer }
  | { kind: 'failure'; failure: ProxyFailure };

/** A protocol's backend login, fed by the I/O layer, doing no I/O itself. */
export interface BackendLogin {
  /**
   * The connection is up; `tls` is true after implicit TLS or a STARTTLS upgrade. `quickAck`: the
   * connection acknowledges the backend's bytes as they come (the native dial sets TCP_QUICKACK),
   * so a reply written after earlier ones with Nagle's algorithm on is not held for our ACK.
   */
  onConnected(tls: boolean, quickAck: boolean): LoginStep[];
  onData(chunk: Buffer): LoginStep[];
}
