import type { Logger } from '../log/index.js';
import type { Connection, ConnectionLimits, NetworkList } from '../net/index.js';

export interface AdmissionDeps {
  /** The limits now in force (a reload swaps them; the counts stay). */
  limits: () => ConnectionLimits;
  /** login_trusted_networks: exempt from the per-address limit. */
  trustedNetworks: NetworkList;
  log: Logger;
}

/**
 * Wraps an IMAP or POP3 front: each accepted connection first takes its place under
 * limits.max_connections and limits.max_connections_per_address. Over a limit, `refuse` says
 * the protocol's goodbye; otherwise `start` runs the session, which calls `release` when it ends.
 */
export function admitted(
  protocol: 'imap' | 'pop3',
  deps: AdmissionDeps,
  refuse: (conn: Connection, limit: 'address' | 'total') => void,
  start: (conn: Connection, release: () => void) => void,
): (conn: Connection) => void {
  return (conn) => {
    void (async () => {
      const ip = conn.remoteIp;
      const got = await deps.limits().admit(ip, deps.trustedNetworks.has(ip));
      if (got.kind === 'refused') {
        const limit = got.key.limit === 'address' ? 'address' : 'total';
        const key = limit === 'address' ? 'max_connections_per_address' : 'max_connections';
        deps.log[limit === 'total' ? 'warn' : 'info']({ event: 'limit_reached', limit, protocol, rip: ip, listener: conn.listener, max: got.max }, `connection refused: limits.${key}=${got.max} reached`);
        refuse(conn, limit);
        return;
      }
      // The client may have left while a cluster counter answered.
      if (conn.socket.destroyed) return got.lease.release();
      start(conn, () => got.lease.release());
    })().catch((err: unknown) => {
      deps.log.error({ event: 'internal_error', rip: conn.remoteIp, err: err instanceof Error ? err.stack : String(err) }, 'connection admission failed');
      conn.socket.destroy();
    });
  };
}
