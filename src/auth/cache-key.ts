import { createHash, createHmac, randomBytes } from 'node:crypto';
import type { AuthRequest } from './types.js';
import { expandVarsDetailed, type VarContext } from './vars.js';

/*
 * The cache key of a lookup: what the passdb's answer can depend on. Dovecot
 * (auth_cache_parse_key) takes the %variables of the passdb's query or args; so do we,
 * and always add the login name and the service, so that two users or two protocols
 * never share an entry whatever a template says.
 */

/** The request values a key can be made of: VarContext's names. */
type Input = 'user' | 'service' | 'mech' | 'remoteIp' | 'remotePort' | 'localIp' | 'localPort' | 'password' | 'secured' | 'session';

const ALWAYS: readonly Input[] = ['user', 'service'];

const PROBE: VarContext = {
  user: 'u@d', service: 'imap', mech: 'PLAIN', remoteIp: '192.0.2.1', remotePort: 1,
  localIp: '192.0.2.2', localPort: 2, secured: false, session: 's', password: 'p', env: {},
};

const AS_INPUT: Record<string, Input | undefined> = {
  user: 'user', originalUser: 'user', service: 'service', mech: 'mech', remoteIp: 'remoteIp',
  remotePort: 'remotePort', localIp: 'localIp', localPort: 'localPort', password: 'password',
  secured: 'secured', session: 'session',
};

/**
 * The request values the templates read, found by expanding them against a context that
 * notes what is read: the grammar (modifiers, `%{long}` names, aliases) is vars.ts's own.
 * `fields` (%{passdb:..}), `env` and constants such as %{hostname} are not inputs.
 */
export function templateInputs(templates: readonly string[]): Input[] {
  const seen = new Set<Input>(ALWAYS);
  const ctx = new Proxy(PROBE, {
    get(target, prop, receiver) {
      const input = typeof prop === 'string' ? AS_INPUT[prop] : undefined;
      if (input !== undefined) seen.add(input);
      return Reflect.get(target, prop, receiver);
    },
  });
  for (const t of templates) expandVarsDetailed(t, ctx);
  return [...seen];
}

/** Per process: a key made from a password cannot be reversed, nor compared across runs. */
const PASSWORD_KEY = randomBytes(32);

function inputValue(req: AuthRequest, input: Input): string {
  switch (input) {
    case 'password':
      return req.password === undefined ? '' : createHmac('sha256', PASSWORD_KEY).update(req.password.reveal()).digest('base64');
    case 'secured':
      return req.secured ? 'secured' : '';
    default:
      return String(req[input]);
  }
}

/**
 * The key for one lookup: a digest of the passdb's id and the input values, so a huge
 * user name costs the cache no more than a short one, and %w never sits in memory.
 */
export function cacheKey(passdbId: string, inputs: readonly Input[], req: AuthRequest): string {
  const values = inputs.map((i) => inputValue(req, i));
  return createHash('sha256').update(JSON.stringify([passdbId, ...values])).digest('base64');
}

export type { Input as CacheKeyInput };
