import { isLoopback, type NetworkList } from '../net/index.js';

export interface PlaintextPolicy {
  /** auth.disable_plaintext_auth */
  disablePlaintextAuth: boolean;
  /** login_trusted_networks */
  trustedNetworks: NetworkList;
}

/**
 * Dovecot's `client->secured` (login-common/client-common.c): TLS, or a peer on loopback or in
 * login_trusted_networks. It is what the passdb sees as %{secured}.
 */
export function connectionSecured(conn: { secured: boolean; remoteIp: string }, trustedNetworks: NetworkList): boolean {
  return conn.secured || isLoopback(conn.remoteIp) || trustedNetworks.has(conn.remoteIp);
}

/**
 * Whether a password may travel on this connection now (IMAP LOGIN, POP3 USER/PASS, plaintext
 * SASL): Dovecot's client_check_plaintext_auth, secured or the rule switched off.
 */
export function plaintextAllowed(conn: { secured: boolean; remoteIp: string }, policy: PlaintextPolicy): boolean {
  return !policy.disablePlaintextAuth || connectionSecured(conn, policy.trustedNetworks);
}
