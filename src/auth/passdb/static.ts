import { parseFieldTemplate, setField } from '../fields.js';
import { withDefaultScheme } from '../schemes/registry.js';
import type { Fields, Passdb, PassdbResult } from '../types.js';
import { expandVarsDetailed, varContextFromRequest } from '../vars.js';
import { passdbLabel, type PassdbDriver } from './descriptor.js';
import { fieldListAbilities } from './abilities.js';

/** Dovecot's STATIC_PASS_SCHEME: a `password=` without `{SCHEME}` is plaintext. */
const STATIC_PASS_SCHEME = 'PLAIN';

/**
 * Dovecot's static passdb: every user exists, with the fields in `args` (variables
 * expanded per request). `password=` is the password to check; without it the
 * password is NULL, which the authenticator accepts only with `nopassword` (or,
 * in postern, when the fields say proxy: the backend checks it).
 */
export const staticDriver: PassdbDriver = {
  driver: 'static',
  description: 'Every user exists; args are the fields to return (password=, nopassword=y, proxy=y host=...).',
  create(spec): Passdb {
    const template = parseFieldTemplate(spec.args, 'static passdb args');
    const passwordTemplate = template.find(([k]) => k === 'password')?.[1];
    const fieldTemplate = template.filter(([k]) => k !== 'password');
    return {
      name: passdbLabel(spec),
      cacheKey: spec.args,
      async lookup(req): Promise<PassdbResult> {
        const ctx = varContextFromRequest(req);
        const fields: Fields = {};
        for (const [k, v] of fieldTemplate) {
          const e = expandVarsDetailed(v, ctx);
          if (e.unknown.length > 0) return { kind: 'tempFail', reason: `unknown variable ${e.unknown.join(', ')} in ${k}=` };
          setField(fields, k, e.value);
        }
        let password: string | null = null;
        if (passwordTemplate !== undefined) {
          const e = expandVarsDetailed(passwordTemplate, ctx);
          // Name the variable, never the template's expansion: it is the password.
          if (e.unknown.length > 0) return { kind: 'tempFail', reason: `unknown variable ${e.unknown.join(', ')} in password=` };
          password = withDefaultScheme(e.value, STATIC_PASS_SCHEME);
        }
        return { kind: 'found', password, fields };
      },
      close: async () => {},
    };
  },
  // password= gives the scheme; proxy_mech= says tokens are forwarded.
  abilities: (spec) => fieldListAbilities(parseFieldTemplate(spec.args, 'static passdb args')),
};
