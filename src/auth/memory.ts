import { ChainAuthenticator } from './authenticator.js';
import type { AuthDeps } from './deps.js';
import { withDefaultScheme } from './schemes/registry.js';
import type { Fields, Passdb, PassdbResult } from './types.js';

/** One user of the in-memory passdb. `password` may carry `{SCHEME}`; bare means PLAIN. */
export interface MemoryUser {
  password?: string | null;
  fields?: Fields;
}

export type MemoryUsers = ReadonlyMap<string, MemoryUser> | Readonly<Record<string, MemoryUser>>;

/** A passdb over a fixed map, for tests and examples; answers like passwd-file. */
export class MemoryPassdb implements Passdb {
  readonly name = 'memory';
  readonly #users: ReadonlyMap<string, MemoryUser>;

  constructor(users: MemoryUsers) {
    this.#users = users instanceof Map ? users : new Map(Object.entries(users));
  }

  async lookup(req: { user: string }): Promise<PassdbResult> {
    const u = this.#users.get(req.user);
    if (!u) return { kind: 'userUnknown' };
    const password = u.password == null ? null : withDefaultScheme(u.password, 'PLAIN');
    return { kind: 'found', password, fields: { ...u.fields } };
  }

  async close(): Promise<void> {}
}

/**
 * The real chain logic over one MemoryPassdb, so fronts are tested against the
 * same nopassword/proxy/nologin semantics they will meet in production, including
 * `passwordVerified`: false for a user with no password (`nopassword`, or `proxy`).
 */
export class MemoryAuthenticator extends ChainAuthenticator {
  constructor(users: MemoryUsers, deps?: AuthDeps) {
    super([{ passdb: new MemoryPassdb(users) }], deps);
  }
}
