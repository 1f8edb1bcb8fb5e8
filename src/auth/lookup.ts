import type { PassdbSpec } from './config.js';
import type { AuthDeps } from './deps.js';
import { applyRenames } from './fields.js';
import { createPassdb } from './passdb/registry.js';
import type { AuthRequest, Fields, Passdb } from './types.js';

/** What a passdb lookup without a password found: Dovecot's PASS lookup on the auth-master socket. */
export type LookupResult =
  | { kind: 'found'; user: string; password: string | null; fields: Fields; passdb: string }
  | { kind: 'userUnknown' }
  | { kind: 'userDisabled'; passdb: string; message?: string }
  | { kind: 'tempFail'; reason: string };

/**
 * Looks a user up in the chain without checking a password (`postern auth lookup`,
 * Dovecot's `doveadm auth lookup`): the first passdb that knows the user answers with
 * its password hash and fields. A user in a `deny` passdb is disabled; a temporary
 * failure with no later answer is a temporary failure, as in the login chain.
 */
export class PassdbLookup {
  readonly #entries: ReadonlyArray<{ passdb: Passdb; deny: boolean }>;

  constructor(entries: ReadonlyArray<{ passdb: Passdb; deny?: boolean }>) {
    this.#entries = entries.map((e) => ({ passdb: e.passdb, deny: e.deny === true }));
  }

  async lookup(req: AuthRequest): Promise<LookupResult> {
    const { password: _ignored, ...withoutPassword } = req;
    let tempFail: string | undefined;
    for (const { passdb, deny } of this.#entries) {
      let r;
      try {
        r = await passdb.lookup(withoutPassword);
      } catch (err) {
        r = { kind: 'tempFail' as const, reason: `lookup threw: ${(err as Error).message}` };
      }
      switch (r.kind) {
        case 'userUnknown':
          continue;
        case 'tempFail':
          tempFail ??= `${passdb.name}: ${r.reason}`;
          continue;
        case 'passwordMismatch':
          tempFail ??= `${passdb.name}: cannot look a user up without a password`;
          continue;
        case 'userDisabled':
          return { kind: 'userDisabled', passdb: passdb.name, ...(r.reason ? { message: r.reason } : {}) };
        case 'found':
        case 'ok': {
          if (deny) return { kind: 'userDisabled', passdb: passdb.name };
          const { user, fields } = applyRenames(r.user ?? req.user, r.fields);
          return { kind: 'found', user, password: r.kind === 'found' ? r.password : null, fields, passdb: passdb.name };
        }
      }
    }
    return tempFail !== undefined ? { kind: 'tempFail', reason: tempFail } : { kind: 'userUnknown' };
  }

  close(): Promise<void> {
    return Promise.allSettled(this.#entries.map((e) => e.passdb.close())).then(() => {});
  }
}

/** The lookup over a configured chain. Throws AuthError on a bad spec. */
export function createPassdbLookup(specs: readonly PassdbSpec[], deps: AuthDeps = {}): PassdbLookup {
  return new PassdbLookup(specs.map((spec) => ({ passdb: createPassdb(spec, deps), deny: spec.deny })));
}
