import { AuthError } from '../errors.js';
import { setField } from '../fields.js';
import { withDefaultScheme } from '../schemes/registry.js';
import type { Fields } from '../types.js';
import { expandVarsDetailed, findUnknownVars, type VarContext } from '../vars.js';

/*
 * Dovecot 2.3's pass_attrs: a comma list of
 *   ldapAttr               the attribute's value as the field of the same name
 *   ldapAttr=field         the attribute's value as `field`
 *   ldapAttr=field=tmpl    `tmpl` with %$ = the value (skipped when the attribute is absent);
 *                          a template without any % means tmpl%$ (old syntax)
 *   =field=tmpl            always set; tmpl may use %{ldap:attr[:default]} and %{ldap_dn}
 *   =field                 the field with an empty value (nopassword, proxy)
 *   !ldapAttr              fetched, no field
 * as db_ldap_set_attrs and db_ldap_result_iterate_next read them. No I/O here.
 */

/** A piece of a value template: text with request %variables, or an LDAP value. */
type Piece =
  | { kind: 'text'; text: string }
  | { kind: 'value' } // %$
  | { kind: 'attr'; attr: string; dflt: string } // %{ldap:attr:default}
  | { kind: 'dn' }; // %{ldap_dn}

export interface PassAttr {
  /** '' for the `=field=...` forms. */
  ldapAttr: string;
  field: string;
  /** Undefined: the attribute's first value as it is. */
  template?: Piece[];
}

export interface PassAttrs {
  attrs: PassAttr[];
  /** Attributes to ask the server for; empty means all of them, as Dovecot. */
  request: string[];
}

/** One search entry: the DN and each attribute's values, names lower-cased. */
export interface LdapEntry {
  dn: string;
  values: Map<string, string[]>;
}

/** Splits a template at %$, %{ldap:...} and %{ldap_dn}; `%%` stays text for expandVars. */
function parseTemplate(tmpl: string, where: string): Piece[] {
  const pieces: Piece[] = [];
  let text = '';
  let i = 0;
  while (i < tmpl.length) {
    if (tmpl[i] !== '%') {
      text += tmpl[i++];
      continue;
    }
    const next = tmpl[i + 1];
    if (next === '%') {
      text += '%%';
      i += 2;
      continue;
    }
    let piece: Piece | undefined;
    let end = i + 2;
    if (next === '$') piece = { kind: 'value' };
    else if (tmpl.startsWith('{ldap:', i + 1) || tmpl.startsWith('{ldap_dn}', i + 1) || tmpl.startsWith('{ldap_ptr:', i + 1)) {
      const close = tmpl.indexOf('}', i);
      if (close < 0) throw new AuthError('AUTH_CONFIG', `${where}: unterminated %{ in ${JSON.stringify(tmpl)}`);
      const body = tmpl.slice(i + 2, close);
      end = close + 1;
      if (body === 'ldap_dn') piece = { kind: 'dn' };
      else if (body.startsWith('ldap_ptr:')) {
        throw new AuthError('AUTH_CONFIG', `${where}: %{ldap_ptr:...} (sub-searches) is not supported`);
      } else {
        const spec = body.slice('ldap:'.length);
        const colon = spec.indexOf(':');
        const attr = colon < 0 ? spec : spec.slice(0, colon);
        if (attr === '' || attr.includes('@')) {
          throw new AuthError('AUTH_CONFIG', `${where}: unsupported attribute reference %{${body}}`);
        }
        piece = { kind: 'attr', attr, dflt: colon < 0 ? '' : spec.slice(colon + 1) };
      }
    }
    if (piece === undefined) {
      text += '%';
      i++;
      continue;
    }
    if (text !== '') pieces.push({ kind: 'text', text });
    text = '';
    pieces.push(piece);
    i = end;
  }
  if (text !== '') pieces.push({ kind: 'text', text });
  for (const p of pieces) {
    if (p.kind !== 'text') continue;
    const unknown = findUnknownVars(p.text);
    if (unknown.length > 0) throw new AuthError('AUTH_CONFIG', `${where}: unknown variable ${unknown.join(', ')}`);
  }
  return pieces;
}

/**
 * Parses pass_attrs. `skipField` drops one field entirely (Dovecot drops `password`
 * under auth_bind, so the attribute is not even fetched).
 */
export function parsePassAttrs(list: string, skipField?: string): PassAttrs {
  const attrs: PassAttr[] = [];
  const request = new Set<string>();
  for (const raw of list.split(',')) {
    const item = raw.trim();
    if (item === '') continue;
    const where = `pass_attrs entry ${JSON.stringify(item)}`;
    if (item.startsWith('@')) throw new AuthError('AUTH_CONFIG', `${where}: @ entries (sub-searches) are not supported`);
    const eq = item.indexOf('=');
    if (eq < 0 && item.startsWith('!')) {
      if (item.length > 1) request.add(item.slice(1));
      continue;
    }
    const ldapAttr = eq < 0 ? item : item.slice(0, eq);
    const rest = eq < 0 ? item : item.slice(eq + 1);
    const eq2 = rest.indexOf('=');
    const field = eq2 < 0 ? rest : rest.slice(0, eq2);
    let tmpl = eq2 < 0 ? (ldapAttr === '' ? '' : undefined) : rest.slice(eq2 + 1);
    if (field === '') throw new AuthError('AUTH_CONFIG', `invalid ${where}: no field name`);
    if (field.includes('%')) throw new AuthError('AUTH_CONFIG', `${where}: %variables in field names are not supported`);
    if (field === skipField) continue;
    // Dovecot's backwards compatibility: attr=name=prefix means attr=name=prefix%$.
    if (tmpl !== undefined && eq2 >= 0 && !tmpl.includes('%')) tmpl += '%$';
    const template = tmpl === undefined ? undefined : parseTemplate(tmpl, where);
    if (ldapAttr !== '') request.add(ldapAttr);
    for (const p of template ?? []) if (p.kind === 'attr') request.add(p.attr);
    attrs.push({ ldapAttr, field, ...(template ? { template } : {}) });
  }
  return { attrs, request: [...request] };
}

export interface AttrResult {
  fields: Fields;
  /** With its `{SCHEME}`; null when no password attribute came back. */
  password: string | null;
  warnings: string[];
  /** Request variables a template used but nothing answered. */
  unknown: string[];
}

/**
 * The fields of one entry, as ldap_query_save_result builds them: the first value of a
 * multi-valued attribute (with a warning), absent attributes skipped, `password` given
 * `default_pass_scheme` when it has no `{SCHEME}` and `password_noscheme` always.
 */
export function entryFields(entry: LdapEntry, pa: PassAttrs, ctx: VarContext, defaultScheme: string): AttrResult {
  const fields: Fields = {};
  const warnings: string[] = [];
  const unknown: string[] = [];
  let password: string | null = null;
  const first = (attr: string): string | undefined => {
    const vals = entry.values.get(attr.toLowerCase());
    if (vals === undefined || vals.length === 0) return undefined;
    if (vals.length > 1) warnings.push(`multiple values found for '${attr}', using the first`);
    return vals[0];
  };

  for (const a of pa.attrs) {
    let value: string | undefined = a.ldapAttr === '' ? undefined : first(a.ldapAttr);
    if (a.template !== undefined) {
      if (a.ldapAttr !== '' && value === undefined) continue;
      value = expand(a.template, value ?? '', entry, ctx, first, unknown);
    }
    if (value === undefined) continue;
    if (a.field === 'password' || a.field === 'password_noscheme') {
      if (password !== null) {
        warnings.push('multiple password values not supported, using the first');
        continue;
      }
      password = a.field === 'password' ? withDefaultScheme(value, defaultScheme) : `{${defaultScheme}}${value}`;
    } else {
      setField(fields, a.field, value);
    }
  }
  return { fields, password, warnings, unknown };
}

function expand(
  pieces: Piece[],
  value: string,
  entry: LdapEntry,
  ctx: VarContext,
  first: (attr: string) => string | undefined,
  unknown: string[],
): string {
  let out = '';
  for (const p of pieces) {
    switch (p.kind) {
      case 'text': {
        // Only the template's own text is expanded: LDAP values are never re-read as %vars.
        const e = expandVarsDetailed(p.text, ctx);
        unknown.push(...e.unknown);
        out += e.value;
        break;
      }
      case 'value':
        out += value;
        break;
      case 'attr':
        out += first(p.attr) ?? p.dflt;
        break;
      case 'dn':
        out += entry.dn;
        break;
      default: {
        const never: never = p;
        throw new Error(`unhandled template piece ${JSON.stringify(never)}`);
      }
    }
  }
  return out;
}
