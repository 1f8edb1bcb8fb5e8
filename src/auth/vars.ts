import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import { getField } from './fields.js';
import type { AuthRequest, Fields } from './types.js';

/**
 * Dovecot 2.3 `%` variables for auth templates (passdb args, extra fields, paths,
 * later SQL queries). Grammar, from lib/var-expand.c:
 *   %[-][0]<width>[.[0][-]<width>][modifiers]<key>   key = one char or {long_key}
 */

/** The values a template can refer to. */
export interface VarContext {
  user: string;
  service: string;
  mech: string;
  remoteIp: string;
  remotePort: number | string;
  localIp: string;
  localPort: number | string;
  /** Plaintext password, only when the mechanism has one (%w). */
  password?: string;
  secured: boolean;
  session: string;
  /** The login name before any passdb renamed it (%{original_user}). */
  originalUser?: string;
  /** Passdb fields so far: %{passdb:name}; `userdb_` ones also serve %{userdb:name}. */
  fields?: Fields;
  /** Source of %{env:NAME}; process.env when absent. */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface Expansion {
  value: string;
  /** Variables nothing answered, as written (`%x`, `%{foo}`), for config checks. */
  unknown: string[];
}

const SHORT_KEYS: Record<string, string> = {
  u: 'user', n: 'username', d: 'domain', s: 'service', l: 'local_ip', r: 'remote_ip',
  a: 'local_port', b: 'remote_port', w: 'password', m: 'mechanism', c: 'secured', p: 'pid',
};

const userPart = (u: string): string => (u.includes('@') ? u.slice(0, u.indexOf('@')) : u);
// Dovecot's %d is everything after the first '@', empty without one.
const domainPart = (u: string): string => (u.includes('@') ? u.slice(u.indexOf('@') + 1) : '');

/** Long names, including the pre-2.3.13 aliases Dovecot still accepts. */
function longValue(key: string, ctx: VarContext): string | undefined {
  const orig = ctx.originalUser ?? ctx.user;
  switch (key) {
    case 'user': return ctx.user;
    case 'username': return userPart(ctx.user);
    case 'domain': return domainPart(ctx.user);
    case 'domain_first': return userPart(domainPart(ctx.user));
    case 'domain_last': return ctx.user.includes('@') ? ctx.user.slice(ctx.user.lastIndexOf('@') + 1) : '';
    case 'service': return ctx.service;
    case 'local_ip': case 'lip': return ctx.localIp;
    case 'remote_ip': case 'rip': return ctx.remoteIp;
    case 'local_port': case 'lport': return String(ctx.localPort);
    case 'remote_port': case 'rport': return String(ctx.remotePort);
    case 'password': return ctx.password ?? '';
    case 'mechanism': case 'mech': return ctx.mech;
    case 'secured': return ctx.secured ? 'secured' : '';
    case 'session': return ctx.session;
    case 'original_user': case 'orig_user': case 'auth_user': return orig;
    case 'original_username': case 'orig_username': case 'auth_username': return userPart(orig);
    case 'original_domain': case 'orig_domain': case 'auth_domain': return domainPart(orig);
    case 'pid': return String(process.pid);
    case 'hostname': return hostname().split('.')[0] ?? '';
    default: return undefined;
  }
}

/** `%{passdb:name[:default]}`, `%{userdb:name[:default]}`, `%{env:NAME}`. */
function funcValue(func: string, data: string, ctx: VarContext): string | undefined {
  const colon = data.indexOf(':');
  const name = colon < 0 ? data : data.slice(0, colon);
  const dflt = colon < 0 ? '' : data.slice(colon + 1);
  switch (func) {
    case 'passdb': return getField(ctx.fields, name) ?? dflt;
    case 'userdb': return getField(ctx.fields, `userdb_${name}`) ?? dflt;
    case 'env': return (ctx.env ?? process.env)[data] ?? '';
    default: return undefined;
  }
}

interface Slice { offset: number; width: number; zeroPad: boolean }
type Modifier = (value: string, s: Slice) => string;

// Dovecot's %N: MD5, first 8 bytes as an integer, optionally mod width, printed as hex.
const newHash: Modifier = (v, s) => {
  let n = createHash('md5').update(v, 'utf8').digest().readBigUInt64BE(0);
  if (s.width !== 0) {
    n %= BigInt(Math.abs(s.width));
    s.width = 0;
  }
  const hex = (n & 0xffffffffn).toString(16).padStart(Math.min(Math.max(s.offset, 0), 64), '0');
  s.offset = 0;
  return hex;
};

const MODIFIERS: Record<string, Modifier> = {
  L: (v) => v.toLowerCase(),
  U: (v) => v.toUpperCase(),
  E: (v) => v.replace(/["'\\]/g, '\\$&'),
  X: (v) => (/^\d+$/.test(v) && BigInt(v) < 2n ** 64n ? BigInt(v).toString(16) : '0'),
  R: (v) => Array.from(v).reverse().join(''),
  N: newHash,
  M: (v) => createHash('md5').update(v, 'utf8').digest('hex'),
  D: (v) => v.replaceAll('.', ',dc='),
  T: (v) => v.replace(/[ \t\n\v\f\r]+$/, ''),
};
const MAX_MODIFIERS = 10;
/** Zero padding beyond this is a typo, not a wish for a megabyte of zeros. */
const MAX_PAD = 1024;

/** Offset and width count characters (code points), where Dovecot counts bytes. */
function applySlice(value: string, s: Slice): string {
  let chars = Array.from(value);
  if (s.offset < 0) {
    if (chars.length > -s.offset) chars = chars.slice(chars.length + s.offset);
  } else {
    chars = chars.slice(s.offset);
  }
  if (s.width === 0) return chars.join('');
  if (s.zeroPad) return '0'.repeat(Math.max(0, Math.min(s.width, MAX_PAD) - chars.length)) + chars.join('');
  const width = s.width < 0 ? Math.max(0, chars.length + s.width) : s.width;
  return chars.slice(0, width).join('');
}

/**
 * Expands a template. `escape` is applied to each substituted value, after modifiers
 * (Dovecot escapes before them, which %R or %N would undo). Unknown short variables
 * expand to nothing and unknown long ones to `UNSUPPORTED_VARIABLE_<name>`, as in
 * Dovecot 2.3; both are listed in `unknown`, and Dovecot fails the lookup on them.
 */
export function expandVarsDetailed(
  template: string,
  ctx: VarContext,
  escape: (value: string) => string = (v) => v,
): Expansion {
  let out = '';
  const unknown: string[] = [];
  const t = template;
  let i = 0;
  const digits = (): number => {
    let n = 0;
    while (i < t.length && t[i]! >= '0' && t[i]! <= '9') n = Math.min(n * 10 + Number(t[i++]), 1e9);
    return n;
  };
  while (i < t.length) {
    // Text up to the next "%" is copied in one piece.
    const pct = t.indexOf('%', i);
    if (pct !== i) {
      const end = pct < 0 ? t.length : pct;
      out += t.slice(i, end);
      i = end;
      continue;
    }
    i++;
    const s: Slice = { offset: 0, width: 0, zeroPad: false };
    let sign = 1;
    if (t[i] === '-') { sign = -1; i++; }
    if (t[i] === '0') { s.zeroPad = true; i++; }
    s.width = digits();
    if (t[i] === '.') {
      i++;
      s.offset = sign * s.width;
      sign = 1;
      s.zeroPad = false;
      if (t[i] === '0') { s.zeroPad = true; i++; }
      if (t[i] === '-') { sign = -1; i++; }
      s.width = sign * digits();
    }
    const mods: Modifier[] = [];
    while (mods.length < MAX_MODIFIERS && i < t.length && MODIFIERS[t[i]!]) mods.push(MODIFIERS[t[i++]!]!);
    if (i >= t.length) break; // a trailing '%' expands to nothing

    let value: string | undefined;
    if (t[i] === '{' && t.indexOf('}', i) >= 0) {
      const end = closingBrace(t, i);
      const key = t.slice(i + 1, end);
      i = end + 1;
      value = resolveLong(key, ctx);
      if (value === undefined) {
        unknown.push(`%{${key}}`);
        value = `UNSUPPORTED_VARIABLE_${key.split(':')[0]}`;
      }
    } else {
      const key = t[i++]!;
      if (key === '%') {
        out += '%'; // a literal, not a value: never escaped
        continue;
      }
      const long = SHORT_KEYS[key];
      value = long === undefined ? undefined : longValue(long, ctx);
      if (value === undefined) {
        unknown.push(`%${key}`);
        continue;
      }
    }
    for (const m of mods) value = m(value, s);
    out += escape(applySlice(value, s));
  }
  return { value: out, unknown };
}

/** The expanded string alone; see expandVarsDetailed for unknown variables. */
export function expandVars(template: string, ctx: VarContext, escape?: (value: string) => string): string {
  return expandVarsDetailed(template, ctx, escape).value;
}

/** Variables in `template` that no request could answer, for the config check. */
export function findUnknownVars(template: string): string[] {
  return expandVarsDetailed(template, PROBE).unknown;
}

/** The index of the brace closing the one at `open`, honouring nesting and `\` escapes. */
function closingBrace(t: string, open: number): number {
  let depth = 1;
  let i = open + 1;
  for (; i < t.length; i++) {
    if (t[i] === '\\') { i++; continue; }
    if (t[i] === '{') depth++;
    if (t[i] === '}' && --depth === 0) return i;
  }
  return t.length; // unbalanced: Dovecot takes the rest of the string as the key
}

function resolveLong(key: string, ctx: VarContext): string | undefined {
  const direct = longValue(key, ctx);
  if (direct !== undefined) return direct;
  const colon = key.indexOf(':');
  return colon < 0 ? undefined : funcValue(key.slice(0, colon), key.slice(colon + 1), ctx);
}

/** The variables of one request; `fields` are the passdb fields gathered so far. */
export function varContextFromRequest(req: AuthRequest, fields?: Fields): VarContext {
  return {
    user: req.user,
    service: req.service,
    mech: req.mech,
    remoteIp: req.remoteIp,
    remotePort: req.remotePort,
    localIp: req.localIp,
    localPort: req.localPort,
    password: req.password?.reveal(),
    secured: req.secured,
    session: req.session,
    fields,
  };
}

const PROBE: VarContext = {
  user: 'u@d', service: 'imap', mech: 'PLAIN', remoteIp: '192.0.2.1', remotePort: 1,
  localIp: '192.0.2.2', localPort: 2, secured: false, session: 's', env: {},
};
