import { isLoopback, type NetworkList } from '../net/index.js';

export interface PlaintextPolicy {
  /** auth.disable_plaintext_auth */
  disablePlaintextAuth: boolean;
  /** login_trusted_networks */
  trustedNetworks: NetworkList;
}

/**
 * Whether a password may travel on this connection now (IMAP LOGIN, POP3 USER/PASS, plaintext
 * SASL). Dovecot's client_check_plaintext_auth: yes over TLS, or when the rule is off; loopback
 * and trusted networks count as secured, as Dovecot's `client->secured` does.
 */
export function plaintextAllowed(conn: { secured: boolean; remoteIp: string }, policy: PlaintextPolicy): boolean {
  if (conn.secured || !policy.disablePlaintextAuth) return true;
  return isLoopback(conn.remoteIp) || policy.trustedNetworks.has(conn.remoteIp);
}
