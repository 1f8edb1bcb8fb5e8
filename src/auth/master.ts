import { silentLogger, type AuthDeps, type AuthLogger } from './deps.js';
import { fieldIsSet } from './fields.js';
import type { AuthRequest, AuthResult, Authenticator, CredentialsResult } from './types.js';

/** Who logs in, and the master user whose password proves it. */
export type MasterSplit = { login: string; master: string } | { error: string } | undefined;

/**
 * Dovecot's two ways to ask for a master-user login: the SASL authorization identity
 * (PLAIN's authzid: authcid = master), or `login*master` in the user name with
 * auth_master_user_separator (split at its first occurrence). Undefined: a normal login.
 */
export function splitMasterLogin(req: Pick<AuthRequest, 'user' | 'authzid'>, separator: string): MasterSplit {
  const at = separator === '' ? -1 : req.user.indexOf(separator);
  const authzid = req.authzid !== undefined && req.authzid !== req.user ? req.authzid : undefined;
  if (at >= 0 && authzid !== undefined) return { error: 'both an authorization identity and a master user separator' };
  if (authzid !== undefined) return { login: authzid, master: req.user };
  if (at < 0) return undefined;
  const login = req.user.slice(0, at);
  const master = req.user.slice(at + separator.length);
  if (login === '' || master === '') return { error: 'an empty login or master user name around the separator' };
  return { login, master };
}

/**
 * Master users as Dovecot (passdb { master = yes }): the master's password is checked in the
 * master chain, then the login user is looked up in the normal chain without a password, as
 * Dovecot does with `result_success = continue` (postern always does: routing needs the
 * user's fields). A master who proved themselves but names a user the chain refuses gets
 * `authzFailed`. When the login is proxied the master user goes to the backend too (`master=`
 * field, unless the passdb set one), as Dovecot's auth_str_append_extra_fields.
 */
export class MasterUserAuthenticator implements Authenticator {
  readonly #normal: Authenticator;
  readonly #masters: Authenticator;
  readonly #separator: string;
  readonly #log: AuthLogger;

  constructor(normal: Authenticator, masters: Authenticator, separator: string, deps: AuthDeps = {}) {
    this.#normal = normal;
    this.#masters = masters;
    this.#separator = separator;
    this.#log = (deps.log ?? silentLogger).child({ component: 'auth-master' });
  }

  async authenticate(req: AuthRequest): Promise<AuthResult> {
    const split = this.#split(req);
    if (split === undefined) return this.#normal.authenticate(req);
    if ('kind' in split) return split;
    return this.#asLoginUser(req, split, await this.#masters.authenticate(this.#masterRequest(req, split)));
  }

  async lookupCredentials(req: AuthRequest, scheme: string): Promise<CredentialsResult> {
    const split = this.#split(req);
    const unsupported: CredentialsResult = { kind: 'tempFail', reason: 'credential lookups are not supported by this chain' };
    if (split === undefined) return this.#normal.lookupCredentials?.(req, scheme) ?? unsupported;
    if ('kind' in split) return split;
    const c = (await this.#masters.lookupCredentials?.(this.#masterRequest(req, split), scheme)) ?? unsupported;
    if (c.kind !== 'ok') return c;
    return { kind: 'ok', credentials: c.credentials, complete: async () => this.#asLoginUser(req, split, await c.complete()) };
  }

  async lookupUser(req: AuthRequest): Promise<AuthResult> {
    const split = this.#split(req);
    const unsupported: AuthResult = { kind: 'tempFail', reason: 'user lookups are not supported by this chain' };
    if (split === undefined) return (await this.#normal.lookupUser?.(req)) ?? unsupported;
    if ('kind' in split) return split;
    return this.#asLoginUser(req, split, (await this.#masters.lookupUser?.(this.#masterRequest(req, split))) ?? unsupported);
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.#normal.close(), this.#masters.close()]);
  }

  #split(req: AuthRequest): { login: string; master: string } | Extract<AuthResult, { kind: 'fail' }> | undefined {
    const split = splitMasterLogin(req, this.#separator);
    if (split === undefined || !('error' in split)) return split;
    this.#log.info({ user: req.user }, `invalid master user login: ${split.error}`);
    return { kind: 'fail', reason: 'authzFailed', fields: {} };
  }

  #masterRequest(req: AuthRequest, split: { master: string }): AuthRequest {
    const { authzid: _none, ...rest } = req;
    return { ...rest, user: split.master };
  }

  /** After the master's own check: the login user's lookup, which decides the session. */
  async #asLoginUser(req: AuthRequest, split: { login: string; master: string }, master: AuthResult): Promise<AuthResult> {
    if (master.kind !== 'ok') return master;
    const { authzid: _none, password: _secret, ...rest } = req;
    const target = (await this.#normal.lookupUser?.({ ...rest, user: split.login })) ?? { kind: 'tempFail', reason: 'user lookups are not supported by this chain' };
    if (target.kind === 'tempFail') return target;
    if (target.kind === 'fail') {
      this.#log.info({ master: master.user, user: split.login, reason: target.reason }, 'master user may not log in as this user');
      return { kind: 'fail', reason: 'authzFailed', fields: {} };
    }
    this.#log.info({ master: master.user, user: target.user }, 'master user logging in as another user');
    const fields = { ...master.fields, ...target.fields };
    if ((fieldIsSet(fields, 'proxy') || fieldIsSet(fields, 'proxy_maybe')) && fields['master'] === undefined) fields['master'] = master.user;
    return { kind: 'ok', user: target.user, fields, passwordVerified: master.passwordVerified };
  }
}
