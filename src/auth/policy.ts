import { createHmac, randomBytes } from 'node:crypto';
import { sleep, type AbortLike, type Secret } from '../core/index.js';
import { PenaltyTable, penaltyDelayMs, penaltyIdent } from './penalty.js';

/*
 * What happens around a password check, as Dovecot's auth process does it: the
 * per-address penalty is waited out before the check (auth_penalty_lookup), a failure
 * is answered only after auth_failure_delay and raises the address's penalty
 * (auth_request_handle_failure), a success resets it. One instance per process, shared
 * by the IMAP and POP3 logins and the auth service.
 */

export type Sleep = (ms: number, signal?: AbortLike) => Promise<void>;

export interface AuthPolicyOptions {
  /** auth.failure_delay. 0 turns off the delay and, as in Dovecot, the penalty counting. */
  failureDelayMs: number;
  /** auth.penalty (default true): Dovecot's anvil auth penalty. */
  penalty?: boolean;
  /** Injected in tests: the clock of the penalty table. */
  now?: () => number;
  /** Injected in tests: how waits are made. Aborting the signal ends a wait early. */
  sleep?: Sleep;
  /** Addresses tracked at once (an LRU); PENALTY_MAX_ADDRESSES by default. */
  maxAddresses?: number;
}

/** Who is logging in, for the penalty: the client address, and whether it is exempt. */
export interface PenaltySubject {
  remoteIp: string;
  /** login_trusted_networks (Dovecot's no-penalty): no wait, no counting. */
  noPenalty?: boolean;
}

/** How a failed attempt ended, for the failure delay and the repeated-password rule. */
export interface FailureInfo {
  user: string;
  /** The password tried; the same user+password failing again is not counted again. */
  password?: Secret | string;
  /** The passdb's `nodelay`: answer at once and do not count it (Dovecot). */
  nodelay?: boolean;
}

/** Per process: the checksums of tried passwords are useless to anyone reading memory later. */
const CHECKSUM_KEY = randomBytes(32);

function checksum(user: string, password: Secret | string | undefined): string | undefined {
  if (password === undefined) return undefined;
  const plain = typeof password === 'string' ? password : password.reveal();
  return createHmac('sha256', CHECKSUM_KEY).update(user).update('\0').update(plain).digest('base64').slice(0, 16);
}

export class AuthPolicy {
  readonly #failureDelayMs: number;
  readonly #penalty: PenaltyTable | undefined;
  readonly #sleep: Sleep;

  constructor(opts: AuthPolicyOptions) {
    this.#failureDelayMs = opts.failureDelayMs;
    this.#penalty = opts.penalty === false ? undefined : new PenaltyTable({ ...(opts.now ? { now: opts.now } : {}), ...(opts.maxAddresses ? { maxAddresses: opts.maxAddresses } : {}) });
    this.#sleep = opts.sleep ?? sleep;
  }

  /** The penalty level an address has now (0 when exempt or off), for logs and tests. */
  penaltyLevel(subject: PenaltySubject): number {
    const ident = this.#ident(subject);
    return ident === undefined ? 0 : this.#penalty!.level(ident);
  }

  /**
   * Before a password check: waits out the address's penalty, then hands back the
   * attempt to report the outcome on. `signal` (the client left) ends the wait early.
   */
  async begin(subject: PenaltySubject, signal?: AbortLike): Promise<AuthAttempt> {
    const ident = this.#ident(subject);
    const level = ident === undefined ? 0 : this.#penalty!.level(ident);
    const waitMs = penaltyDelayMs(level);
    if (waitMs > 0 && !signal?.aborted) await this.#sleep(waitMs, signal);
    return new AuthAttempt(this, ident, level, waitMs);
  }

  /** auth.failure_delay alone, unless `nodelay` (for nologin replies). */
  async failureDelay(opts: { nodelay?: boolean }, signal?: AbortLike): Promise<void> {
    if (opts.nodelay || this.#failureDelayMs <= 0 || signal?.aborted) return;
    await this.#sleep(this.#failureDelayMs, signal);
  }

  /** @internal */
  countFailure(ident: string | undefined, level: number, info: FailureInfo): void {
    // Dovecot counts only failures it delays: not nodelay ones, not with auth_failure_delay = 0.
    if (ident === undefined || info.nodelay || this.#failureDelayMs <= 0) return;
    this.#penalty!.failed(ident, level, checksum(info.user, info.password));
  }

  /** @internal */
  countSuccess(ident: string | undefined, level: number): void {
    if (ident !== undefined && level > 0) this.#penalty!.succeeded(ident);
  }

  #ident(subject: PenaltySubject): string | undefined {
    if (this.#penalty === undefined || subject.noPenalty) return undefined;
    const ident = penaltyIdent(subject.remoteIp);
    return ident === '' ? undefined : ident;
  }
}

/** One login attempt between `AuthPolicy.begin` and its outcome; report it once. */
export class AuthAttempt {
  #done = false;

  constructor(
    private readonly policy: AuthPolicy,
    private readonly ident: string | undefined,
    /** The penalty level seen before the check. */
    readonly penaltyLevel: number,
    /** How long the request was held for it. */
    readonly penaltyWaitMs: number,
  ) {}

  /** The login succeeded: the address's penalty is reset. */
  succeeded(): void {
    if (this.#done) return;
    this.#done = true;
    this.policy.countSuccess(this.ident, this.penaltyLevel);
  }

  /** The login failed: counted (unless repeated or nodelay), then auth.failure_delay is waited. */
  async failed(info: FailureInfo, signal?: AbortLike): Promise<void> {
    if (!this.#done) {
      this.#done = true;
      this.policy.countFailure(this.ident, this.penaltyLevel, info);
    }
    await this.policy.failureDelay(info, signal);
  }
}
