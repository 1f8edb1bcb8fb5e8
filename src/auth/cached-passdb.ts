import { silentLogger, type AuthLogger } from './deps.js';
import type { AuthCache, CachedAnswer } from './cache.js';
import { cacheKey, templateInputs } from './cache-key.js';
import { hashPassword, splitScheme, verifyPassword } from './schemes/registry.js';
import type { AuthRequest, Passdb, PassdbResult } from './types.js';

/** How a self-checking driver's accepted password is kept: salted, fast (it is only memory). */
const SELF_CHECKED_SCHEME = 'SSHA512';

let nextId = 0;

/**
 * Puts the auth cache in front of one passdb (Dovecot's passdb_cache_verify_plain),
 * when the cache is on and the driver says what its answer depends on (`cacheKey`).
 *
 * A hit with a password verifies it against the cached hash. On a match the answer is
 * `ok` (verified; the authenticator does not hash twice). On a mismatch the passdb is
 * asked again before the login fails, so a password changed in the passdb works at
 * once and replaces the cached hash; Dovecot does so only when the entry's last login
 * succeeded. Temporary failures are never cached; an "unknown user" is, for
 * auth_cache_negative_ttl. A lookup without a password (no SASL plaintext) gets the
 * cached answer as `found`, except from self-checking drivers, which are asked.
 */
export function withCache(inner: Passdb, cache: AuthCache | undefined, log: AuthLogger = silentLogger): Passdb {
  if (cache === undefined || !cache.enabled || inner.cacheKey === undefined) return inner;
  const id = `P${nextId++}`;
  const inputs = templateInputs([inner.cacheKey]);
  const clog = log.child({ component: 'auth-cache', passdb: inner.name });

  const refresh = async (req: AuthRequest, key: string): Promise<PassdbResult> => {
    const r = await inner.lookup(req);
    switch (r.kind) {
      case 'found':
        cache.set(key, req.user, { kind: 'found', ...(r.user !== undefined ? { user: r.user } : {}), password: r.password, fields: r.fields, selfChecked: false });
        break;
      case 'ok':
        // Only a password the driver itself accepted, and only hashed.
        if (req.password !== undefined) {
          const hash = `{${SELF_CHECKED_SCHEME}}${await hashPassword(SELF_CHECKED_SCHEME, req.password.reveal(), req.user)}`;
          cache.set(key, req.user, { kind: 'found', ...(r.user !== undefined ? { user: r.user } : {}), password: hash, fields: r.fields, selfChecked: true });
        }
        break;
      case 'userUnknown':
        cache.set(key, req.user, { kind: 'userUnknown' });
        break;
      case 'userDisabled':
        cache.delete(key);
        break;
      case 'passwordMismatch':
      case 'tempFail':
        // A wrong password says nothing of the entry; a failure must not wipe a good one.
        break;
    }
    return r;
  };

  return {
    name: inner.name,
    cacheKey: inner.cacheKey,
    async lookup(req: AuthRequest): Promise<PassdbResult> {
      const key = cacheKey(id, inputs, req);
      const hit = cache.get(key);
      if (hit === undefined) return refresh(req, key);
      if (hit.kind === 'userUnknown') {
        clog.debug({ user: req.user }, 'cache hit: user unknown');
        return hit;
      }
      if (req.password === undefined) {
        return hit.selfChecked ? inner.lookup(req) : asFound(hit);
      }
      if (hit.password === null || splitScheme(hit.password).value === '') return asFound(hit);
      const v = await verifyPassword(req.password.reveal(), hit.password, 'PLAIN', req.user);
      // Bad stored data: the authenticator reports it from the found answer, as without a cache.
      if ('error' in v) return asFound(hit);
      if (v.ok) {
        clog.debug({ user: req.user }, 'cache hit: password matches');
        const { fields } = hit;
        return { kind: 'ok', ...(hit.user !== undefined ? { user: hit.user } : {}), fields };
      }
      clog.debug({ user: req.user }, 'cache hit: password differs; asking the passdb');
      return refresh(req, key);
    },
    close: () => inner.close(),
  };
}

function asFound(hit: Extract<CachedAnswer, { kind: 'found' }>): PassdbResult {
  return { kind: 'found', ...(hit.user !== undefined ? { user: hit.user } : {}), password: hit.password, fields: hit.fields };
}
