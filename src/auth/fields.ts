import { BlockList, isIP } from 'node:net';
import { AuthError } from './errors.js';
import type { Fields } from './types.js';

/*
 * Passdb extra fields: parsing `key=value` lists, reading them safely, and the few
 * fields with meaning to the authenticator itself.
 */

/** Own-property read, so `constructor` or `__proto__` never answer from Object.prototype. */
export function getField(fields: Fields | undefined, key: string): string | undefined {
  return fields !== undefined && Object.hasOwn(fields, key) ? fields[key] : undefined;
}

/** Assignment that cannot reach the prototype. */
export function setField(fields: Fields, key: string, value: string): void {
  if (key === '__proto__') return;
  fields[key] = value;
}

/**
 * Dovecot's boolean extra fields (nopassword, proxy, proxy_maybe, nologin) count when
 * present, whatever the value. We also read an explicit n/no/false/0 as "off", since
 * `nopassword=no` meaning "accept any password" is a trap, not a feature.
 */
export function fieldIsSet(fields: Fields | undefined, key: string): boolean {
  const v = getField(fields, key);
  return v !== undefined && !/^(n|no|false|0)$/i.test(v.trim());
}

/** A `key=value key2=value2` list, as Dovecot's passdb templates and static args. */
export type FieldTemplate = ReadonlyArray<readonly [key: string, value: string]>;

/**
 * Splits on spaces only (Dovecot's t_strsplit_spaces with " "); a token without `=`
 * is a key with an empty value. Values are not unquoted: Dovecot does not either.
 */
export function parseFieldTemplate(args: string, what = 'field list'): FieldTemplate {
  const out: Array<[string, string]> = [];
  for (const token of args.split(' ')) {
    if (token === '') continue;
    const eq = token.indexOf('=');
    const key = eq < 0 ? token : token.slice(0, eq);
    if (key === '' || key === '__proto__') {
      throw new AuthError('AUTH_CONFIG', `invalid ${what} ${JSON.stringify(args)}: bad key in ${JSON.stringify(token)}`);
    }
    out.push([key, eq < 0 ? '' : token.slice(eq + 1)]);
  }
  return out;
}

const SECRET_KEY = /pass|secret|token|key/i;

/** A copy fit for logs: values of password-like fields become `***`. */
export function maskFields(fields: Fields): Fields {
  const out: Fields = {};
  for (const [k, v] of Object.entries(fields)) setField(out, k, SECRET_KEY.test(k) ? '***' : v);
  return out;
}

/** maskFields when the line is written: a debug line that is not logged costs no copy. */
export function maskedForLog(fields: Fields): { toJSON(): Fields } {
  return { toJSON: () => maskFields(fields) };
}

/**
 * Fields that rename the user, as Dovecot's get_updated_username: `user` replaces the
 * name, `username` the part before '@' (or all of it if it has an '@'), `domain` the
 * part after. Returns undefined for other keys.
 */
export function renamedUser(current: string, key: string, value: string): string | undefined {
  const at = current.indexOf('@');
  switch (key) {
    case 'user':
      return value;
    case 'username':
      return value.includes('@') || at < 0 ? value : value + current.slice(at);
    case 'domain':
      return at < 0 ? `${current}@${value}` : current.slice(0, at + 1) + value;
    default:
      return undefined;
  }
}

export const RENAME_KEYS: ReadonlySet<string> = new Set(['user', 'username', 'domain']);

/**
 * Dovecot's `allow_nets`: comma or space separated networks; `local` matches a
 * connection without a client address. An unparsable entry fails the check.
 */
export function allowNetsMatch(spec: string, remoteIp: string): { ok: boolean; invalid?: string } {
  const ip = remoteIp.startsWith('::ffff:') && isIP(remoteIp.slice(7)) === 4 ? remoteIp.slice(7) : remoteIp;
  const family = isIP(ip);
  for (const entry of spec.split(/[\s,]+/)) {
    if (entry === '') continue;
    if (entry === 'local') {
      if (family === 0) return { ok: true };
      continue;
    }
    const [net, bitsText] = entry.split('/');
    const netFamily = isIP(net ?? '');
    const bits = bitsText === undefined ? (netFamily === 4 ? 32 : 128) : Number(bitsText);
    const max = netFamily === 4 ? 32 : 128;
    if (netFamily === 0 || !Number.isInteger(bits) || bits < 0 || bits > max || (bitsText !== undefined && !/^\d+$/.test(bitsText))) {
      return { ok: false, invalid: entry };
    }
    if (family !== netFamily) continue;
    const list = new BlockList();
    const type = netFamily === 4 ? 'ipv4' : 'ipv6';
    list.addSubnet(net!, bits, type);
    if (list.check(ip, type)) return { ok: true };
  }
  return { ok: false };
}

/**
 * Folds the renaming fields of one passdb answer into the user name and drops them
 * from the fields (Dovecot keeps them hidden from clients). An empty result name is
 * returned as '' for the caller to refuse, as Dovecot fails such a lookup. `drop` is left out
 * too (building the object without it is cheaper than deleting it after).
 */
export function applyRenames(user: string, fields: Fields, drop?: string): { user: string; fields: Fields } {
  const rest: Fields = {};
  // for-in, not Object.entries: no array of pairs per login (Fields are plain objects, set by setField).
  for (const k in fields) {
    if (k === drop) continue;
    const v = fields[k]!;
    const renamed = renamedUser(user, k, v);
    if (renamed === undefined) setField(rest, k, v);
    else user = renamed;
  }
  return { user, fields: rest };
}
