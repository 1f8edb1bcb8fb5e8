import type { PassdbSpec } from '../config.js';
import { parseFieldTemplate, renamedUser, setField, type FieldTemplate } from '../fields.js';
import type { AuthRequest, Fields, Passdb, PassdbResult } from '../types.js';
import { expandVarsDetailed, varContextFromRequest } from '../vars.js';
import { withDefaultScheme } from '../schemes/registry.js';

/** Scheme of a `password=` given in default_fields/override_fields, as Dovecot's templates. */
const TEMPLATE_PASS_SCHEME = 'PLAIN';

/**
 * Wraps a driver with Dovecot's default_fields and override_fields, once for all
 * drivers. Order, as Dovecot: defaults, then the driver's fields, then overrides;
 * overrides see the user name after any rename. A driver that throws becomes tempFail.
 */
export function withFields(inner: Passdb, spec: Pick<PassdbSpec, 'default_fields' | 'override_fields'>): Passdb {
  const defaults = parseFieldTemplate(spec.default_fields, 'default_fields');
  const overrides = parseFieldTemplate(spec.override_fields, 'override_fields');
  // The fields' %variables are inputs of the answer too (Dovecot 2.4's auth_cache_parse_key_and_fields).
  const cacheKey = inner.cacheKey === undefined ? undefined : [inner.cacheKey, spec.default_fields, spec.override_fields].join(' ');
  return {
    name: inner.name,
    ...(cacheKey !== undefined ? { cacheKey } : {}),
    async lookup(req: AuthRequest): Promise<PassdbResult> {
      let r: PassdbResult;
      try {
        r = await inner.lookup(req);
      } catch (err) {
        return { kind: 'tempFail', reason: `lookup failed: ${(err as Error).message}` };
      }
      if (r.kind !== 'found' && r.kind !== 'ok') return r;
      return merge(r, req, defaults, overrides);
    },
    close: () => inner.close(),
  };
}

type Found = Extract<PassdbResult, { kind: 'found' | 'ok' }>;

function merge(r: Found, req: AuthRequest, defaults: FieldTemplate, overrides: FieldTemplate): PassdbResult {
  let user = req.user;
  let password = r.kind === 'found' ? r.password : null;
  const fields: Fields = {};
  const set = (key: string, value: string, isDefault: boolean): void => {
    const renamed = renamedUser(user, key, value);
    if (renamed !== undefined) user = renamed;
    else if (key === 'password') {
      if (!isDefault || password === null) password = withDefaultScheme(value, TEMPLATE_PASS_SCHEME);
    } else setField(fields, key, value);
  };

  const dflt = expandTemplate(defaults, req, user, fields);
  if ('error' in dflt) return { kind: 'tempFail', reason: `default_fields: ${dflt.error}` };
  for (const [k, v] of dflt.list) set(k, v, true);
  if (r.user !== undefined) user = r.user;
  for (const k in r.fields) set(k, r.fields[k]!, false);
  const over = expandTemplate(overrides, req, user, fields);
  if ('error' in over) return { kind: 'tempFail', reason: `override_fields: ${over.error}` };
  for (const [k, v] of over.list) set(k, v, false);

  const renamed = user === req.user ? {} : { user };
  return r.kind === 'found' ? { kind: 'found', ...renamed, password, fields } : { kind: 'ok', ...renamed, fields };
}

function expandTemplate(
  tmpl: FieldTemplate,
  req: AuthRequest,
  user: string,
  fields: Fields,
): { list: Array<[string, string]> } | { error: string } {
  if (tmpl.length === 0) return { list: [] };
  const ctx = { ...varContextFromRequest(req, fields), user, originalUser: req.user };
  const list: Array<[string, string]> = [];
  for (const [k, v] of tmpl) {
    const e = expandVarsDetailed(v, ctx);
    if (e.unknown.length > 0) return { error: `unknown variable ${e.unknown.join(', ')} in ${k}=` };
    list.push([k, e.value]);
  }
  return { list };
}
