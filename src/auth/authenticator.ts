import type { PassdbSpec, ResultRule } from './config.js';
import { silentLogger, type AuthDeps, type AuthLogger } from './deps.js';
import { allowNetsMatch, applyRenames, fieldIsSet, getField, maskedForLog } from './fields.js';
import { createPassdb } from './passdb/registry.js';
import { splitScheme, verifyPassword } from './schemes/registry.js';
import { credentialsInScheme } from './credentials.js';
import type { AuthRequest, AuthResult, Authenticator, CredentialsResult, Fields, Passdb, PassdbResult } from './types.js';

/** A passdb in the chain with Dovecot's per-passdb rules. */
export interface ChainEntry {
  passdb: Passdb;
  /** A user found here is refused (Dovecot `deny = yes`). */
  deny?: boolean;
  resultSuccess?: ResultRule;
  resultFailure?: ResultRule;
  resultInternalfail?: ResultRule;
}

/** What the chain does with a found password: compare the client's, hand it over in a scheme, or nothing. */
type ChainMode = { kind: 'password' } | { kind: 'credentials'; scheme: string } | { kind: 'lookup' };
interface ChainOutput {
  /** The credentials of the last passdb that gave some (credentials mode). */
  credentials?: string;
}

/** One passdb's outcome after the password check: Dovecot's passdb_result. */
type Step =
  | { kind: 'ok'; user: string; fields: Fields; verified: boolean; credentials?: string }
  | { kind: 'passwordMismatch'; message?: string }
  | { kind: 'userUnknown' }
  | { kind: 'userDisabled'; message?: string }
  | { kind: 'internalFailure'; reason: string };

/**
 * Runs the passdb chain as Dovecot's auth_request_handle_passdb_callback does. With
 * the default rules (success: return-ok, failure: continue, internalfail: continue)
 * the first passdb that accepts wins, and a temporary failure anywhere that is not
 * followed by a success makes the whole login a temporary failure, never a silent
 * "wrong password".
 *
 * Success includes users with `nologin` (and perhaps `reason`, `host`): the front
 * decides what to tell them, and a nologin with `proxy` + `host` is a referral.
 *
 * Every success says whether a passdb really checked the password (`passwordVerified`).
 * Dovecot does not, which is how `nopassword` on a proxy passdb lets Postfix SASL accept
 * any password (dovecot/documentation#554); the auth service refuses unverified successes.
 */
export class ChainAuthenticator implements Authenticator {
  readonly #entries: readonly ChainEntry[];
  readonly #log: AuthLogger;
  readonly #onPassdbError: ((passdb: string) => void) | undefined;
  #closed: Promise<void> | undefined;

  constructor(entries: readonly ChainEntry[], deps: AuthDeps = {}) {
    this.#entries = entries;
    this.#log = (deps.log ?? silentLogger).child({ component: 'auth' });
    this.#onPassdbError = deps.onPassdbError;
  }

  authenticate(req: AuthRequest): Promise<AuthResult> {
    return this.#chain(req, { kind: 'password' }, {});
  }

  /**
   * Dovecot's lookup_credentials (CRAM-MD5, SCRAM): the same chain and rules, but a found
   * password is handed over in `scheme` instead of compared; the mechanism checks the proof,
   * then `complete()` is the success, verified.
   */
  async lookupCredentials(req: AuthRequest, scheme: string): Promise<CredentialsResult> {
    const { password: _none, ...bare } = req;
    const out: ChainOutput = {};
    const result = await this.#chain(bare, { kind: 'credentials', scheme }, out);
    if (result.kind !== 'ok') return result;
    const credentials = out.credentials;
    if (credentials === undefined) {
      this.#log.info({ user: req.user, scheme }, 'no passdb gave credentials');
      return { kind: 'fail', reason: 'passwordMismatch', fields: result.fields };
    }
    return { kind: 'ok', credentials, complete: async () => ({ ...result, passwordVerified: true }) };
  }

  /** The chain without a password check: a user proven by a TLS client certificate (EXTERNAL). */
  lookupUser(req: AuthRequest): Promise<AuthResult> {
    const { password: _none, ...bare } = req;
    return this.#chain(bare, { kind: 'lookup' }, {});
  }

  async #chain(req: AuthRequest, mode: ChainMode, out: ChainOutput): Promise<AuthResult> {
    // Acting as another user needs a master passdb (master.ts); a chain alone never grants it.
    if (req.authzid !== undefined && req.authzid !== req.user) {
      this.#log.info({ user: req.user, authzid: req.authzid }, 'master user login attempted without master passdbs');
      return { kind: 'fail', reason: 'authzFailed', fields: {} };
    }
    let user = req.user;
    let committed: Fields = {};
    let success = false; // Dovecot's passdb_success
    let seenInternalFailure = false;
    let skipPasswordCheck = false; // Dovecot's skip_password_check: after a continue rule, later passdbs only add fields
    let verified = false; // some successful passdb compared the password
    let last: Step = { kind: 'userUnknown' };

    for (let i = 0; i < this.#entries.length; i++) {
      const entry = this.#entries[i]!;
      const name = entry.passdb.name;
      const step = await this.#runOne(entry.passdb, user === req.user ? req : { ...req, user }, skipPasswordCheck || entry.deny === true || mode.kind === 'lookup', mode);
      if (step.kind === 'internalFailure') {
        this.#log.warn({ passdb: name, user: req.user, reason: step.reason }, 'passdb lookup failed');
        this.#onPassdbError?.(name);
      }

      // Both end the chain at once, whatever the rules and earlier successes say.
      if (entry.deny && step.kind !== 'userUnknown') {
        // Found in a deny passdb: refused. Not knowing stays a temporary failure.
        if (step.kind === 'internalFailure') return { kind: 'tempFail', reason: step.reason };
        this.#log.info({ passdb: name, user: req.user }, 'user found in deny passdb');
        return { kind: 'fail', reason: 'userDisabled', fields: {} };
      }
      if (step.kind === 'userDisabled') {
        return { kind: 'fail', reason: 'userDisabled', ...(step.message ? { message: step.message } : {}), fields: committed };
      }
      const rule =
        step.kind === 'ok'
          ? (entry.resultSuccess ?? 'return-ok')
          : step.kind === 'internalFailure'
            ? (entry.resultInternalfail ?? 'continue')
            : (entry.resultFailure ?? 'continue');
      if (rule === 'return-ok' || rule === 'continue-ok') success = true;
      if (rule === 'return-fail' || rule === 'continue-fail') success = false;
      if (step.kind === 'ok') {
        // Keep what a successful passdb returned; a failed one's fields are dropped.
        user = step.user;
        Object.assign(committed, step.fields); // committed is this chain's own object
        if (step.verified) verified = true;
        if (step.credentials !== undefined) out.credentials = step.credentials;
        if (rule.startsWith('continue')) skipPasswordCheck = true;
      }
      last = step;
      if (!rule.startsWith('continue') || i === this.#entries.length - 1) break;
      if (step.kind === 'internalFailure') seenInternalFailure = true;
    }

    if (success) return { kind: 'ok', user, fields: committed, passwordVerified: verified };
    if (seenInternalFailure && last.kind !== 'internalFailure') {
      return { kind: 'tempFail', reason: 'a passdb failed temporarily and none accepted the login' };
    }
    switch (last.kind) {
      case 'ok':
        return { kind: 'ok', user, fields: committed, passwordVerified: verified };
      case 'internalFailure':
        return { kind: 'tempFail', reason: last.reason };
      case 'userUnknown':
        return { kind: 'fail', reason: 'userUnknown', fields: committed };
      case 'passwordMismatch':
        return { kind: 'fail', reason: last.kind, ...(last.message ? { message: last.message } : {}), fields: committed };
    }
  }

  /** One lookup and, for `found`, the password check (skipped when `skipCheck`). */
  async #runOne(passdb: Passdb, req: AuthRequest, skipCheck: boolean, mode: ChainMode): Promise<Step> {
    let r: PassdbResult;
    try {
      r = await passdb.lookup(req);
    } catch (err) {
      return { kind: 'internalFailure', reason: `lookup threw: ${(err as Error).message}` };
    }
    switch (r.kind) {
      case 'userUnknown':
        return r;
      case 'tempFail':
        return { kind: 'internalFailure', reason: r.reason };
      case 'userDisabled':
        return { kind: 'userDisabled', ...(r.reason ? { message: r.reason } : {}) };
      case 'passwordMismatch': {
        // From drivers that check themselves (imap, ldap bind): their reason= is for the client.
        const message = getField(r.fields, 'reason');
        return { kind: 'passwordMismatch', ...(message ? { message } : {}) };
      }
      case 'ok':
      case 'found':
        break;
    }

    // nopassword is about this passdb only (Dovecot removes it after each lookup): read from the answer, not kept.
    const { user, fields } = applyRenames(r.user ?? req.user, r.fields, 'nopassword');
    if (user === '') return this.#refuse(passdb, req, 'a field renamed the user to an empty name');
    // A self-checking driver's `ok` is a verified password; a skipped check verifies nothing.
    let credentials: string | undefined;
    let check: 'verified' | 'unverified' | Step;
    if (mode.kind === 'credentials' && !skipCheck) {
      // The mechanism verifies; a self-checking driver keeps nothing to hand over.
      const c = r.kind === 'found' ? await this.#credentials(passdb, req, r.password, mode.scheme) : this.#mismatch(passdb, req, 'the passdb checks passwords itself; no credentials');
      if (typeof c !== 'string') return c;
      credentials = c;
      check = 'unverified';
    } else {
      check = r.kind === 'found' && !skipCheck ? await this.#checkPassword(passdb, req, r.password, r.fields) : r.kind === 'ok' && mode.kind === 'password' ? 'verified' : 'unverified';
    }
    if (typeof check !== 'string') return check;

    // Dovecot's `fail` and `allow_nets` turn a success into "unknown user".
    if (getField(fields, 'fail') !== undefined) return this.#refuse(passdb, req, 'the passdb set fail');
    const nets = getField(fields, 'allow_nets');
    if (nets !== undefined) {
      const m = allowNetsMatch(nets, req.remoteIp);
      if (m.invalid) this.#log.error({ passdb: passdb.name, entry: m.invalid }, 'invalid allow_nets entry');
      if (!m.ok) return this.#refuse(passdb, req, `allow_nets check failed for ${req.remoteIp}`);
    }
    this.#log.debug({ passdb: passdb.name, user, fields: maskedForLog(fields) }, 'passdb accepted');
    return { kind: 'ok', user, fields, verified: check === 'verified', ...(credentials !== undefined ? { credentials } : {}) };
  }

  /** The stored password in `scheme` (Dovecot's passdb_handle_credentials); a hash of another scheme cannot be. */
  async #credentials(passdb: Passdb, req: AuthRequest, stored: string | null, scheme: string): Promise<string | Step> {
    if (stored === null || splitScheme(stored).value === '') return this.#mismatch(passdb, req, `no password to make ${scheme} credentials from`);
    const c = await credentialsInScheme(stored, scheme, req.user);
    if (c.ok) return c.value;
    if ('error' in c) {
      this.#log.error({ passdb: passdb.name, user: req.user, error: c.error }, 'cannot read stored credentials');
      return { kind: 'internalFailure', reason: c.error };
    }
    return this.#mismatch(passdb, req, c.unavailable);
  }

  #mismatch(passdb: Passdb, req: AuthRequest, why: string): Step {
    this.#log.info({ passdb: passdb.name, user: req.user }, why);
    return { kind: 'passwordMismatch' };
  }

  #refuse(passdb: Passdb, req: AuthRequest, why: string): Step {
    this.#log.info({ passdb: passdb.name, user: req.user }, why);
    return { kind: 'userUnknown' };
  }

  /**
   * NULL password: accepted with `nopassword`, or when the fields send the login on to
   * a backend (`proxy`, `proxy_maybe`) that checks the forwarded password itself.
   * Dovecot wants `nopassword` in that case too; see the module notes. Either way the
   * password was not checked here: 'unverified'.
   */
  async #checkPassword(
    passdb: Passdb,
    req: AuthRequest,
    stored: string | null,
    fields: Fields,
  ): Promise<'verified' | 'unverified' | Step> {
    const nopassword = fieldIsSet(fields, 'nopassword');
    if (stored === null || splitScheme(stored).value === '') {
      if (nopassword) return 'unverified';
      if (stored === null) {
        if (fieldIsSet(fields, 'proxy') || fieldIsSet(fields, 'proxy_maybe')) return 'unverified';
        this.#log.info({ passdb: passdb.name, user: req.user }, 'no password returned (and no nopassword)');
        return { kind: 'passwordMismatch' };
      }
    } else if (nopassword) {
      // As Dovecot: a real password wins over nopassword, and the conflict is logged.
      this.#log.error({ passdb: passdb.name, user: req.user }, 'nopassword set but password is non-empty; checking the password');
    }
    if (req.password === undefined) return { kind: 'passwordMismatch' };
    const v = await verifyPassword(req.password.reveal(), stored, 'PLAIN', req.user);
    if ('error' in v) {
      // Broken data or an unknown scheme is the operator's problem, not a wrong password.
      this.#log.error({ passdb: passdb.name, user: req.user, error: v.error }, 'cannot verify password');
      return { kind: 'internalFailure', reason: v.error };
    }
    return v.ok ? 'verified' : { kind: 'passwordMismatch' };
  }

  close(): Promise<void> {
    this.#closed ??= Promise.allSettled(this.#entries.map((e) => e.passdb.close())).then(() => {});
    return this.#closed;
  }
}

/** The authenticator for a configured passdb chain. Throws AuthError on a bad spec. */
export function createAuthenticator(specs: readonly PassdbSpec[], deps: AuthDeps = {}): Authenticator {
  const entries = specs.map((spec) => ({
    passdb: createPassdb(spec, deps),
    deny: spec.deny,
    resultSuccess: spec.result_success,
    resultFailure: spec.result_failure,
    resultInternalfail: spec.result_internalfail,
  }));
  return new ChainAuthenticator(entries, deps);
}
