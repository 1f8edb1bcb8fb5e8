import { isIP } from 'node:net';
import { fieldIsSet, type AuthAttempt, type AuthPolicy, type AuthRequest, type Authenticator, type Fields } from '../auth/index.js';
import { SaslServer, type SaslOutcome, type SaslRequestBase, type SaslServerMechanism } from '../auth/sasl/index.js';
import type { Logger } from '../log/index.js';
import { newSessionId } from '../login/index.js';
import { normalizeIp } from '../net/index.js';
import { contLine, failLine, okLine, printable, type AuthParams } from './codec.js';
import { REQUEST_TIMEOUT_MS } from './limits.js';

/** One text for every refusal: it must not tell a prober whether the user exists. */
export const FAILED_REASON = 'Authentication failed';
export const TEMP_FAILED_REASON = 'Temporary authentication failure';

export interface ExchangeDeps {
  authenticator: Authenticator;
  /** The process's failure delay and per-address penalty, shared with the IMAP and POP3 logins. */
  policy: AuthPolicy;
  /** login_trusted_networks: their clients (`rip`) are exempt from the penalty. */
  trustedNetworks?: { has(ip: string): boolean };
  /** Aborted when the connection goes away: nothing more is sent. */
  signal: AbortSignal;
  log: Logger;
  send(line: string): void;
  /** The request is over (answered, timed out or failed): forget its id. */
  finished(id: number): void;
  /**
   * A temporary failure. True: send FAIL with `temp`. False: the client cannot read `temp`
   * (Postfix and Exim map every FAIL to 535), so the connection closes instead, which they
   * report as a temporary failure (Postfix 454, Exim 435).
   */
  clientReadsTemp(): boolean;
  closeForTempFail(id: number): void;
}

type ExchangeState =
  | { kind: 'awaitingResponse'; timer: NodeJS.Timeout }
  | { kind: 'working' } // the penalty wait, a SASL step with its passdb lookup, or the failure delay
  | { kind: 'done' };

/**
 * What the MTA told us of its client (Dovecot's %s %r %l %p %{secured}); bad addresses and ports
 * are left out. A client in login_trusted_networks (a webmail submitting mail) is exempt from the
 * penalty, as `no-penalty` asks, like the IMAP and POP3 logins from there.
 */
function requestBase(p: AuthParams, trusted: ExchangeDeps['trustedNetworks']): SaslRequestBase {
  const ip = (v: string | undefined) => (v !== undefined && isIP(v) !== 0 ? normalizeIp(v) : '');
  const remoteIp = ip(p.rip);
  return {
    service: p.service ?? 'smtp',
    remoteIp,
    remotePort: p.rport ?? 0,
    localIp: ip(p.lip),
    localPort: p.lport ?? 0,
    secured: p.secured,
    session: p.session !== undefined && p.session !== '' ? p.session : newSessionId(),
    ...(p.noPenalty || (remoteIp !== '' && trusted?.has(remoteIp)) ? { noPenalty: true } : {}),
  };
}

/** One AUTH request: waits out the address's penalty, runs its SASL exchange against the chain, answers once. */
export class AuthExchange {
  readonly id: number;
  readonly #base: SaslRequestBase;
  readonly #sasl: SaslServer;
  readonly #deps: ExchangeDeps;
  readonly #log: Logger;
  #state: ExchangeState = { kind: 'working' };
  #attempt: AuthAttempt | undefined;

  constructor(id: number, mech: SaslServerMechanism, params: AuthParams, deps: ExchangeDeps) {
    this.id = id;
    this.#base = requestBase(params, deps.trustedNetworks);
    this.#deps = deps;
    this.#sasl = new SaslServer(mech, deps.authenticator, this.#base);
    this.#log = deps.log.child({ id, service: params.service, mech: mech.name, ...(params.rip ? { client: printable(params.rip) } : {}) });
  }

  get awaitingResponse(): boolean {
    return this.#state.kind === 'awaitingResponse';
  }

  /** Runs to the first challenge or the answer; rejects only on a bug (the connection then closes). */
  async start(initial: Buffer | null): Promise<void> {
    const attempt = await this.#deps.policy.begin(this.#base, this.#deps.signal);
    this.#attempt = attempt;
    if (attempt.penaltyWaitMs > 0) this.#log.info({ event: 'auth_penalty', level: attempt.penaltyLevel, ms: attempt.penaltyWaitMs }, 'request held by the failure penalty of its address');
    if (this.#ended()) return;
    await this.#step(initial);
  }

  /** The client's CONT; rejects only on a bug, as start() does. */
  respond(data: Buffer): Promise<void> {
    if (this.#state.kind !== 'awaitingResponse') return Promise.resolve();
    clearTimeout(this.#state.timer);
    this.#state = { kind: 'working' };
    return this.#step(data);
  }

  /** Stops the request without a reply (CANCEL, or the connection closed). */
  cancel(): void {
    if (this.#state.kind === 'awaitingResponse') clearTimeout(this.#state.timer);
    this.#state = { kind: 'done' };
  }

  async #step(response: Buffer | null): Promise<void> {
    let out: SaslOutcome;
    try {
      out = await this.#sasl.step(response);
    } catch (err) {
      out = { kind: 'done', request: this.#stubRequest(), result: { kind: 'tempFail', reason: `SASL step threw: ${(err as Error).message}` } };
    }
    if (this.#ended()) return;
    switch (out.kind) {
      case 'challenge': {
        const timer = setTimeout(() => this.#timedOut(), REQUEST_TIMEOUT_MS);
        timer.unref();
        this.#state = { kind: 'awaitingResponse', timer };
        this.#deps.send(contLine(this.id, out.data));
        return;
      }
      case 'invalid':
        this.#log.info({ event: 'auth_failed', reason: 'mechanism', detail: out.message }, 'authentication failed');
        return this.#refuse(undefined, {}, undefined, out.data);
      case 'done':
        return this.#finish(out);
      default: {
        const never: never = out;
        throw new Error(`unhandled SASL outcome ${JSON.stringify(never)}`);
      }
    }
  }

  async #finish(out: Extract<SaslOutcome, { kind: 'done' }>): Promise<void> {
    const { request, result } = out;
    const log = this.#log.child({ user: printable(request.user, 256), ...(request.authzid !== undefined ? { authzid: printable(request.authzid, 256) } : {}) });
    switch (result.kind) {
      case 'ok':
        if (!result.passwordVerified) {
          // nopassword, or a NULL password accepted for proxy: the backend would check it at
          // IMAP login, but nobody does here. Accepting would let anyone send as this user.
          log.warn({ event: 'auth_failed', reason: 'passwordNotVerified' }, 'the passdb accepted the login without checking the password (nopassword or proxy); the auth service requires a checked password');
          return this.#refuse(request, result.fields);
        }
        this.#attempt?.succeeded();
        log.info({ event: 'auth_ok', ...(result.user !== request.user ? { as: printable(result.user, 256) } : {}) }, 'authenticated');
        return this.#answer(okLine(this.id, result.user, out.data));
      case 'fail':
        log.info({ event: 'auth_failed', reason: result.reason }, 'authentication failed');
        return this.#refuse(request, result.fields, result.reason === 'authzFailed' ? 'authz_fail' : undefined, out.data);
      case 'tempFail':
        log.warn({ event: 'auth_tempfail', reason: result.reason }, 'temporary authentication failure');
        return this.#tempFail(request.user);
      default: {
        const never: never = result;
        throw new Error(`unhandled auth result ${JSON.stringify(never)}`);
      }
    }
  }

  #timedOut(): void {
    this.#state = { kind: 'done' };
    this.#log.info({ event: 'auth_timeout', ms: REQUEST_TIMEOUT_MS }, 'client did not continue the authentication');
    this.#deps.finished(this.id);
  }

  #ended(): boolean {
    return this.#state.kind === 'done' || this.#deps.signal.aborted;
  }

  /** The request as far as known, for a step that threw before the mechanism named a user. */
  #stubRequest(): AuthRequest {
    return { ...this.#base, mech: this.#sasl.mech.name, user: '' };
  }

  /**
   * FAIL, after auth.failure_delay unless the passdb said nodelay; the failure counts toward
   * the address's penalty (a repeated identical password does not), as Dovecot does.
   */
  async #refuse(request: AuthRequest | undefined, fields: Fields, code?: string, resp?: Buffer): Promise<void> {
    const user = request?.user;
    await this.#attempt?.failed({ user: user ?? '', ...(request?.password ? { password: request.password } : {}), nodelay: fieldIsSet(fields, 'nodelay') }, this.#deps.signal);
    if (this.#ended()) return;
    this.#answer(failLine(this.id, { ...(user ? { user } : {}), ...(code !== undefined ? { code } : {}), reason: FAILED_REASON, ...(resp !== undefined ? { resp } : {}) }));
  }

  /** A passdb could not answer: not the client's fault, so no penalty and no delay (as the IMAP and POP3 logins). */
  #tempFail(user: string): void {
    if (this.#ended()) return;
    if (this.#deps.clientReadsTemp()) return this.#answer(failLine(this.id, { ...(user ? { user } : {}), temp: true, reason: TEMP_FAILED_REASON }));
    this.#state = { kind: 'done' };
    this.#deps.finished(this.id);
    this.#deps.closeForTempFail(this.id);
  }

  #answer(line: string): void {
    if (this.#ended()) return;
    this.#state = { kind: 'done' };
    this.#deps.send(line);
    this.#deps.finished(this.id);
  }
}
