import { isIP } from 'node:net';
import { normalizeIp } from '../net/index.js';

/** What a trusted proxy in front of us may say about the client (IMAP ID x-*, POP3 XCLIENT), as text. */
export interface ForwardedFields {
  ip?: string;
  port?: string;
  ttl?: string;
  session?: string;
}

interface Parsed {
  ip?: string;
  port?: number;
  ttl?: number;
  session?: string;
}

/** Dovecot's LOGIN_MAX_SESSION_ID_LEN: a longer forwarded session id is ignored. */
const MAX_SESSION_ID_CHARS = 64;

/**
 * The client as logins, logs and backends see it: the peer of the connection, unless a proxy
 * from login_trusted_networks forwarded the real one. The caller checks the trust.
 */
export class ClientIdentity {
  ip: string;
  port: number;
  /** Proxy hops left; a login at 1 or less is refused as a loop. */
  ttl: number;
  /** A session id forwarded by the proxy in front, used instead of our own. */
  session: string | undefined;

  constructor(peer: { remoteIp: string; remotePort: number }, ttl: number) {
    this.ip = peer.remoteIp;
    this.port = peer.remotePort;
    this.ttl = ttl;
  }

  /** Checks forwarded values; `invalid` names the ones that are malformed. An over-long session id is dropped, as in Dovecot. */
  static parse(f: ForwardedFields): { values: Parsed; invalid: string[] } {
    const values: Parsed = {};
    const invalid: string[] = [];
    if (f.ip !== undefined) {
      const ip = normalizeIp(f.ip);
      if (isIP(ip) === 0) invalid.push('ip');
      else values.ip = ip;
    }
    if (f.port !== undefined) {
      const port = /^\d{1,5}$/.test(f.port) ? Number(f.port) : -1;
      if (port < 1 || port > 65535) invalid.push('port');
      else values.port = port;
    }
    if (f.ttl !== undefined) {
      if (!/^\d{1,9}$/.test(f.ttl)) invalid.push('ttl');
      else values.ttl = Number(f.ttl);
    }
    if (f.session !== undefined && /^[\x21-\x7e]+$/.test(f.session) && f.session.length <= MAX_SESSION_ID_CHARS) values.session = f.session;
    return { values, invalid };
  }

  /** Applies parsed values. The TTL only ever goes down: a forwarded one cannot raise our limit. */
  set(v: Parsed): void {
    if (v.ip !== undefined) this.ip = v.ip;
    if (v.port !== undefined) this.port = v.port;
    if (v.ttl !== undefined) this.ttl = Math.min(this.ttl, v.ttl);
    if (v.session !== undefined) this.session = v.session;
  }
}
