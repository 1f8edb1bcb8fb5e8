import { fakeCredentials } from '../credentials.js';
import type { AuthRequest, AuthResult, Authenticator, CredentialsResult, WholeAuthRequest } from '../types.js';
import type { SaslIdentity, SaslServerExchange, SaslServerMechanism, SaslStartContext, SaslStep } from './types.js';

/** An AuthRequest without what the exchange supplies (mechanism, user, secret, authzid). */
export type SaslRequestBase = Omit<AuthRequest, 'mech' | 'user' | 'password' | 'authzid'>;

/**
 * What a protocol does next:
 * - `challenge`: send it, and give the client's answer to step();
 * - `done`: the chain's verdict on `request`; `data` is owed to the client first (SCRAM's
 *   verifier on success, OAuth's JSON error on failure): IMAP and POP3 send it as one more
 *   challenge and wait for any answer, the auth service puts it in `resp=`;
 * - `invalid`: a malformed message, a failed login to the client (with `data` owed the same way).
 */
export type SaslOutcome =
  | { kind: 'challenge'; data: Buffer }
  | { kind: 'done'; request: AuthRequest; result: AuthResult; data?: Buffer }
  | { kind: 'invalid'; message: string; data?: Buffer };

type Pending = { kind: 'none' } | { kind: 'lookup'; request: AuthRequest; credentials: CredentialsResult };

/**
 * Runs one mechanism against the passdb chain; knows nothing of protocols (STYLE practice 8).
 * The mechanism says what it needs; this asks the Authenticator for it: a plaintext or token
 * check (authenticate), stored credentials (lookupCredentials), or a user the certificate
 * proved (lookupUser).
 */
export class SaslServer {
  readonly mech: SaslServerMechanism;
  readonly #auth: Authenticator;
  readonly #base: SaslRequestBase;
  readonly #exchange: SaslServerExchange;
  #pending: Pending = { kind: 'none' };

  constructor(mech: SaslServerMechanism, auth: Authenticator, base: SaslRequestBase, ctx: SaslStartContext = {}) {
    this.mech = mech;
    this.#auth = auth;
    this.#base = base;
    this.#exchange = mech.start(ctx);
  }

  /**
   * The client's response (null: none, as an absent SASL-IR). A challenge or a malformed
   * message is answered at once, so a protocol can keep its replies in order; only a step
   * that consults the chain is asynchronous.
   */
  step(response: Buffer | null): SaslOutcome | Promise<SaslOutcome> {
    const step = this.#exchange.next(response);
    if (step.kind === 'challenge') return { kind: 'challenge', data: step.data };
    if (step.kind === 'invalid') return { kind: 'invalid', message: step.message, ...(step.data ? { data: step.data } : {}) };
    return this.#follow(step);
  }

  async #follow(first: SaslStep): Promise<SaslOutcome> {
    let step = first;
    for (;;) {
      switch (step.kind) {
        case 'challenge':
          return { kind: 'challenge', data: step.data };
        case 'invalid':
          return { kind: 'invalid', message: step.message, ...(step.data ? { data: step.data } : {}) };
        case 'verify': {
          const request = this.#request(step.identity, step.secret);
          const result = await this.#auth.authenticate(request);
          const rejected = result.kind === 'fail' ? this.#exchange.rejected?.() : undefined;
          return { kind: 'done', request, result, ...(rejected ? { data: rejected } : {}) };
        }
        case 'certificate': {
          const request = this.#request(step.identity);
          if (!this.#auth.lookupUser) return { kind: 'done', request, result: { kind: 'tempFail', reason: 'the authenticator cannot look users up without a password' } };
          return { kind: 'done', request, result: await this.#auth.lookupUser(request) };
        }
        case 'lookup': {
          const request = this.#request(step.identity);
          if (!this.#auth.lookupCredentials || !this.#exchange.credentials) {
            return { kind: 'done', request, result: { kind: 'tempFail', reason: `${this.mech.name} needs credential lookups, which this authenticator lacks` } };
          }
          const credentials = await this.#auth.lookupCredentials(request, step.scheme);
          if (credentials.kind === 'tempFail') return { kind: 'done', request, result: credentials };
          let stored: string | undefined;
          if (credentials.kind === 'ok') stored = credentials.credentials;
          else {
            // An unknown user goes on with stand-in credentials and fails at the end, as a wrong password does.
            stored = await fakeCredentials(step.scheme, request.user);
            if (stored === undefined) return { kind: 'done', request, result: credentials };
          }
          this.#pending = { kind: 'lookup', request, credentials };
          step = this.#exchange.credentials(stored);
          continue;
        }
        case 'proven':
        case 'mismatch': {
          const p = this.#pending;
          this.#pending = { kind: 'none' };
          if (p.kind !== 'lookup') return { kind: 'invalid', message: `${this.mech.name} ended without a credential lookup` };
          const c = p.credentials;
          // An unknown user's stand-in credentials never prove anything.
          if (c.kind !== 'ok') return { kind: 'done', request: p.request, result: c };
          if (step.kind === 'mismatch') return { kind: 'done', request: p.request, result: { kind: 'fail', reason: 'passwordMismatch', fields: {} } };
          return { kind: 'done', request: p.request, result: await c.complete(), ...(step.data ? { data: step.data } : {}) };
        }
        default: {
          const never: never = step;
          throw new Error(`unknown SASL step ${JSON.stringify(never)}`);
        }
      }
    }
  }

  /** One literal of one shape at every login: spreads with optional parts made new shapes, each a miss of V8's caches. */
  #request(identity: SaslIdentity, secret?: AuthRequest['password']): AuthRequest {
    const b = this.#base;
    return {
      service: b.service,
      mech: this.mech.name,
      user: identity.authcid,
      password: secret,
      authzid: identity.authzid,
      remoteIp: b.remoteIp,
      remotePort: b.remotePort,
      localIp: b.localIp,
      localPort: b.localPort,
      secured: b.secured,
      session: b.session,
      noPenalty: b.noPenalty,
    } satisfies WholeAuthRequest;
  }
}
