import { LmtpBackend, type BackendAnswer } from './backend.js';

/** An accepted recipient: the address the client gave and the backend session it went to. */
export interface Recipient {
  path: string;
  /** Key of the backend session in `Transaction.backends`. */
  backend: string;
  /** host:port, for the delivery log line. */
  where: string;
}

export type BackendEntry = LmtpBackend | Promise<BackendAnswer | { kind: 'open'; backend: LmtpBackend }>;

/** The mail transaction (RFC 5321 §3.3), one backend session per host:port and TLS mode (reference 2.3). */
export interface Transaction {
  from: string;
  recipients: Recipient[];
  backends: Map<string, BackendEntry>;
}

/** Drops every backend session, opened or still opening: an unfinished body is never terminated. */
export function abortAll(tx: Transaction): void {
  for (const b of tx.backends.values()) {
    if (b instanceof LmtpBackend) b.abort();
    else void b.then((o) => o.kind === 'open' && o.backend.abort());
  }
}
