/** What an operator sees of one session (`postern who`, the admin API). */
export interface SessionInfo {
  id: string;
  protocol: 'imap' | 'pop3' | 'lmtp';
  listener: string;
  /** The client's address: the one a trusted proxy forwarded, else the socket's. */
  rip: string;
  rport: number;
  lip: string;
  lport: number;
  /** `login` until the backend login succeeded, then `proxying`. */
  state: 'login' | 'proxying';
  user?: string;
  /** host:port of the backend, once proxying. */
  backend?: string;
  /** When the connection was accepted (ms since the epoch). */
  since: number;
  /** Bytes from the client and to it, once proxying. */
  bytesIn: number;
  bytesOut: number;
}

export type EndReason = 'shutdown' | 'kicked';

/** A session the registry can describe and end. */
export interface TrackedSession {
  info(): SessionInfo;
  /** Ends the session now, with the protocol's goodbye where one can be said. */
  destroy(reason: EndReason): void;
}

/** Which sessions a kick or a listing means; every given field must match. */
export interface SessionFilter {
  /** The user name, exactly (Dovecot's `doveadm kick` also takes a `*` wildcard). */
  user?: string;
  /** A client address, or a network in CIDR form. */
  rip?: string;
  /** A backend as host or host:port. */
  backend?: string;
  protocol?: SessionInfo['protocol'];
}

function wildcard(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`, 'i');
}

/** A predicate for `filter`; `inNetwork` checks an address against a CIDR (from net/). */
export function sessionMatcher(filter: SessionFilter, inNetwork: (ip: string, cidr: string) => boolean): (s: SessionInfo) => boolean {
  const user = filter.user !== undefined ? (filter.user.includes('*') || filter.user.includes('?') ? wildcard(filter.user) : filter.user) : undefined;
  return (s) => {
    if (filter.protocol !== undefined && s.protocol !== filter.protocol) return false;
    if (user !== undefined) {
      if (s.user === undefined) return false;
      if (typeof user === 'string' ? s.user !== user : !user.test(s.user)) return false;
    }
    if (filter.rip !== undefined && !(filter.rip.includes('/') ? inNetwork(s.rip, filter.rip) : s.rip === filter.rip)) return false;
    if (filter.backend !== undefined) {
      if (s.backend === undefined) return false;
      const host = s.backend.slice(0, s.backend.lastIndexOf(':'));
      if (filter.backend !== s.backend && filter.backend !== host) return false;
    }
    return true;
  };
}

/** Every open session of one process: for listing, kicking and stopping. */
export class SessionRegistry {
  readonly #sessions = new Set<TrackedSession>();

  add(s: TrackedSession): void {
    this.#sessions.add(s);
  }
  delete(s: TrackedSession): void {
    this.#sessions.delete(s);
  }
  get size(): number {
    return this.#sessions.size;
  }
  [Symbol.iterator](): IterableIterator<TrackedSession> {
    return this.#sessions.values();
  }

  list(match: (s: SessionInfo) => boolean = () => true): SessionInfo[] {
    const out: SessionInfo[] = [];
    for (const s of this.#sessions) {
      const info = s.info();
      if (match(info)) out.push(info);
    }
    return out;
  }

  /** Ends the matching sessions; returns how many. */
  kick(match: (s: SessionInfo) => boolean, reason: EndReason = 'kicked'): number {
    const chosen = [...this.#sessions].filter((s) => match(s.info()));
    for (const s of chosen) s.destroy(reason);
    return chosen.length;
  }

  /** Ends every session (shutdown at the deadline). */
  destroyAll(reason: EndReason): void {
    for (const s of [...this.#sessions]) s.destroy(reason);
  }
}
