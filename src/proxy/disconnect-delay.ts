/**
 * Spreads the disconnects of a backend's clients when it goes away, so they do not all come
 * back at once (Dovecot's login_proxy_max_disconnect_delay, login-common/login-proxy.c
 * login_proxy_delay_disconnect). Counts are kept per backend address and per process, as in
 * Dovecot's login processes; each process starts its spread at a slightly random moment.
 */

/** Dovecot's PROXY_DISCONNECT_INTERVAL_MSECS: delays come in steps of this, so timers fire together. */
export const DISCONNECT_STEP_MS = 100;

interface BackendRecord {
  /** Sessions proxied to this backend now. */
  proxying: number;
  /** Clients disconnected since `since`; back to 0 on a new successful connect or when no delayed client is left. */
  disconnects: number;
  since: number;
  /** Client connections held open, waiting for their turn to close. */
  delayed: number;
}

/** One proxied session's part in its backend's record. */
export interface DisconnectTicket {
  /** The backend closed the session: how long to keep the client's connection before closing it (0: now). */
  backendGone(maxDelayMs: number): number;
  /** The client's connection is closed (at its turn, by itself, or for any other reason). Idempotent. */
  closed(): void;
}

export interface DisconnectSpreadOptions {
  now?: () => number;
  /** [0, 1), for the start offset. */
  random?: () => number;
}

export class DisconnectSpread {
  readonly #records = new Map<string, BackendRecord>();
  readonly #now: () => number;
  readonly #random: () => number;

  constructor(opts: DisconnectSpreadOptions = {}) {
    this.#now = opts.now ?? Date.now;
    this.#random = opts.random ?? Math.random;
  }

  /** A session logged in at `backend` (ip:port): a backend that answers again starts a new count. */
  connected(backend: string): DisconnectTicket {
    let rec = this.#records.get(backend);
    if (!rec) {
      rec = { proxying: 0, disconnects: 0, since: 0, delayed: 0 };
      this.#records.set(backend, rec);
    }
    const r = rec;
    r.proxying++;
    r.disconnects = 0;
    let state: 'proxying' | 'gone' | 'delayed' | 'closed' = 'proxying';
    const leave = () => {
      if (state === 'proxying') r.proxying--;
      if (state === 'delayed' && --r.delayed === 0) r.disconnects = 0;
      state = 'closed';
      if (r.proxying === 0 && r.delayed === 0 && this.#records.get(backend) === r) this.#records.delete(backend);
    };
    return {
      backendGone: (maxDelayMs) => {
        if (state !== 'proxying') return 0;
        r.proxying--;
        state = 'gone';
        const delay = this.#delay(r, maxDelayMs);
        if (delay > 0) {
          r.delayed++;
          state = 'delayed';
        }
        return delay;
      },
      closed: () => {
        if (state !== 'closed') leave();
      },
    };
  }

  /** Dovecot's computation, with the maximum in milliseconds instead of whole seconds. */
  #delay(r: BackendRecord, maxDelayMs: number): number {
    const now = this.#now();
    if (r.disconnects === 0) r.since = now + Math.floor(this.#random() * DISCONNECT_STEP_MS);
    r.disconnects++;
    if (maxDelayMs <= 0) return 0;
    const maxConns = r.proxying + r.disconnects;
    // The first second's worth of clients goes at once, unless some are already waiting.
    const perSecond = Math.ceil((maxConns * 1000) / maxDelayMs);
    if (r.disconnects <= perSecond && r.delayed === 0) return 0;
    const sinceStart = DISCONNECT_STEP_MS * Math.floor((maxDelayMs / DISCONNECT_STEP_MS) * r.disconnects / maxConns);
    return Math.max(0, r.since + sinceStart - now);
  }

  /** Backends with sessions or held clients (tests, metrics). */
  get size(): number {
    return this.#records.size;
  }
}
