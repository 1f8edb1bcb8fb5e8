import { AuthError } from '../errors.js';
import { expandVarsDetailed, findUnknownVars, type VarContext } from '../vars.js';
import type { SqlDriverName } from './sql-settings.js';

/*
 * Dovecot's password_query, made safe. Dovecot expands %variables into the SQL text
 * with the driver's escaping (sql_escape_string). postern reads the template once,
 * SQL-aware, and:
 *   - when every variable stands alone in a quoted literal (`'%u'`, as in all of
 *     Dovecot's examples), replaces those literals with bind parameters: the values
 *     never reach the SQL text;
 *   - otherwise escapes each value for the place it stands in: inside '…' as the
 *     driver does (quote doubling; mysql_real_escape_string on MySQL), inside a
 *     quoted identifier by doubling its quote, inside a comment not at all (dropped),
 *     and outside quotes only values of [A-Za-z0-9_.@] (Dovecot's default
 *     auth_username_chars) pass. On PostgreSQL a backslash is refused inside '…',
 *     which a server with standard_conforming_strings off would read as an escape.
 * Every value is refused when it holds NUL, is not well-formed UTF-16 or is longer
 * than MAX_VALUE_CHARS: the lookup then answers "unknown user" without a query.
 */

/** Longest value a variable may put into a query (a login name, a password, an IP). */
export const MAX_VALUE_CHARS = 8192;

type Context =
  | 'plain'
  /** '…' where only the quote is special (SQLite, PostgreSQL standard strings). */
  | 'string'
  /** A string with backslash escapes too: MySQL '…' and "…", PostgreSQL E'…'. */
  | 'bstring'
  /** PostgreSQL $tag$…$tag$: nothing can be escaped inside. */
  | 'dollar'
  /** "…" (SQLite, PostgreSQL) or `…` (MySQL, SQLite): a quoted identifier. */
  | 'ident'
  | 'comment';

interface Segment {
  ctx: Context;
  /** The delimiters as written (`'`, `E'`, `$x$`, `--`, ...) and the body between them. */
  open: string;
  body: string;
  close: string;
  /** A quoted literal whose whole body is one variable, with nothing glued before it. */
  single: boolean;
}

export interface CompiledQuery {
  readonly template: string;
  readonly dialect: SqlDriverName;
  readonly segments: readonly Segment[];
  /** The SQL with placeholders and the template of each parameter; absent when escaping. */
  readonly bound?: { sql: string; params: string[] };
  /** Some variable stands outside quotes (only plain characters can pass there). */
  readonly unquotedVars: boolean;
}

/** A query ready to send: bind parameters, or none (values escaped into `sql`). */
export interface BuiltQuery {
  sql: string;
  params: string[];
}

export type BuildResult = BuiltQuery | { refused: string };

const IDENT_CHAR = /[A-Za-z0-9_$\x80-\uffff]/;
const PLAIN_SAFE = /^[A-Za-z0-9_.@]*$/;
// With the u flag a pair is one code point, so only unpaired surrogates match.
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;

const PROBE: VarContext = {
  user: 'u@d', service: 'imap', mech: 'PLAIN', remoteIp: '192.0.2.1', remotePort: 1,
  localIp: '192.0.2.2', localPort: 2, secured: false, session: 's', env: {},
};

/** Counts the variables of a template piece (expansion with a counting escape). */
function countVars(text: string): { count: number; whole: boolean } {
  let count = 0;
  const mark = '\u{F0000}';
  const out = expandVarsDetailed(text, PROBE, () => {
    count++;
    return mark;
  }).value;
  return { count, whole: count === 1 && out === mark };
}

/** Splits a template into plain SQL, literals, quoted identifiers and comments. */
export function tokenize(template: string, dialect: SqlDriverName): Segment[] {
  const segs: Segment[] = [];
  const t = template;
  let plain = '';
  let i = 0;
  const push = (ctx: Context, open: string, body: string, close: string): void => {
    const glued = plain.length > 0 && IDENT_CHAR.test(plain[plain.length - 1]!);
    if (plain !== '') segs.push({ ctx: 'plain', open: '', body: plain, close: '', single: false });
    plain = '';
    const quoted = ctx === 'string' || ctx === 'bstring' || ctx === 'dollar';
    segs.push({ ctx, open, body, close, single: quoted && !glued && countVars(body).whole });
  };
  const unterminated = (what: string): never => {
    throw new AuthError('AUTH_CONFIG', `password_query: unterminated ${what} in ${JSON.stringify(template)}`);
  };
  /** Scans a quoted body from i (after the opening quote) to its closing quote. */
  const quotedBody = (q: string, backslash: boolean): string => {
    const start = i;
    for (; i < t.length; i++) {
      if (backslash && t[i] === '\\') i++;
      else if (t[i] === q) {
        if (t[i + 1] === q) i++; // a doubled quote stays in the body
        else return t.slice(start, i++);
      }
    }
    return unterminated(`${q}…${q}`);
  };

  while (i < t.length) {
    const c = t[i]!;
    const next = t[i + 1];
    if (c === "'") {
      // PostgreSQL E'…' is a string with backslash escapes; the E is part of it.
      const eString = dialect === 'pgsql' && /[eE]$/.test(plain) && !IDENT_CHAR.test(plain[plain.length - 2] ?? ' ');
      const open = eString ? `${plain.slice(-1)}'` : "'";
      if (eString) plain = plain.slice(0, -1);
      i++;
      const body = quotedBody("'", dialect === 'mysql' || eString);
      push(dialect === 'mysql' || eString ? 'bstring' : 'string', open, body, "'");
    } else if (c === '"' || (c === '`' && dialect !== 'pgsql')) {
      i++;
      const body = quotedBody(c, c === '"' && dialect === 'mysql');
      push(c === '"' && dialect === 'mysql' ? 'bstring' : 'ident', c, body, c);
    } else if ((c === '-' && next === '-' && (dialect !== 'mysql' || /^[\s]?$/.test(t[i + 2] ?? ''))) || (c === '#' && dialect === 'mysql')) {
      const end = t.indexOf('\n', i);
      const stop = end < 0 ? t.length : end;
      push('comment', c === '#' ? '#' : '--', t.slice(i + (c === '#' ? 1 : 2), stop), '');
      i = stop;
    } else if (c === '/' && next === '*') {
      const end = t.indexOf('*/', i + 2);
      if (end < 0) unterminated('/* comment');
      push('comment', '/*', t.slice(i + 2, end), '*/');
      i = end + 2;
    } else if (c === '$' && dialect === 'pgsql' && !IDENT_CHAR.test(plain[plain.length - 1] ?? ' ')) {
      const tag = /^\$([A-Za-z_][A-Za-z0-9_]*)?\$/.exec(t.slice(i))?.[0];
      if (tag === undefined) {
        plain += c;
        i++;
        continue;
      }
      const end = t.indexOf(tag, i + tag.length);
      if (end < 0) unterminated(`${tag}…${tag} string`);
      push('dollar', tag, t.slice(i + tag.length, end), tag);
      i = end + tag.length;
    } else {
      plain += c;
      i++;
    }
  }
  if (plain !== '') segs.push({ ctx: 'plain', open: '', body: plain, close: '', single: false });
  return segs;
}

/** Reads a password_query. Throws AuthError on unknown variables or unbalanced quotes. */
export function compileQuery(template: string, dialect: SqlDriverName): CompiledQuery {
  const unknown = findUnknownVars(template);
  if (unknown.length > 0) throw new AuthError('AUTH_CONFIG', `password_query: unknown variable ${unknown.join(', ')}`);
  const segments = tokenize(template, dialect);
  const withVars = segments.filter((s) => countVars(s.body).count > 0);
  const unquotedVars = withVars.some((s) => s.ctx === 'plain');
  if (withVars.some((s) => s.ctx === 'dollar' && !s.single)) {
    throw new AuthError('AUTH_CONFIG', 'password_query: a %variable inside a $$-quoted string must be its whole content');
  }
  const compiled = { template, dialect, segments, unquotedVars };
  if (!withVars.every((s) => s.single)) return compiled;
  // No variables outside the single-variable literals: the rest is constant SQL.
  let sql = '';
  const params: string[] = [];
  for (const s of segments) {
    if (s.single) {
      params.push(s.body);
      sql += dialect === 'pgsql' ? `$${params.length}` : '?';
    } else {
      sql += s.open + expandVarsDetailed(s.body, PROBE).value + s.close;
    }
  }
  return { ...compiled, bound: { sql, params } };
}

/** Why a value cannot go into a query, or undefined. */
export function refuseValue(v: string): string | undefined {
  if (v.includes('\0')) return 'a value holds NUL';
  if (v.length > MAX_VALUE_CHARS) return `a value is longer than ${MAX_VALUE_CHARS} characters`;
  if (LONE_SURROGATE.test(v)) return 'a value is not well-formed Unicode';
  return undefined;
}

/** SQLite's and PostgreSQL's escaping of a '…' string: the quote doubled. */
export const escapeQuoteDoubling = (v: string, quote = "'"): string => v.replaceAll(quote, quote + quote);

/**
 * libmysqlclient's mysql_real_escape_string, but the string's own quote is doubled
 * rather than backslashed: the same value in the default mode, and still no way out
 * of the literal on a server whose sql_mode has NO_BACKSLASH_ESCAPES.
 */
export function escapeMysql(v: string, quote = "'"): string {
  return v.replace(/[\0\n\r\\'"\x1a]/g, (c) => {
    switch (c) {
      case '\0': return '\\0';
      case '\n': return '\\n';
      case '\r': return '\\r';
      case '\x1a': return '\\Z';
      default: return c === quote ? c + c : `\\${c}`;
    }
  });
}

function escapeFor(seg: Segment, dialect: SqlDriverName): (v: string) => string | undefined {
  switch (seg.ctx) {
    case 'plain':
      return (v) => (PLAIN_SAFE.test(v) ? v : undefined);
    case 'string':
      // A PostgreSQL server with standard_conforming_strings off reads backslashes in
      // '…' too; refusing them keeps quote doubling safe whatever the setting.
      return dialect === 'pgsql' ? (v) => (v.includes('\\') ? undefined : escapeQuoteDoubling(v)) : (v) => escapeQuoteDoubling(v);
    case 'bstring':
      return dialect === 'pgsql' ? (v) => escapeQuoteDoubling(v.replaceAll('\\', '\\\\')) : (v) => escapeMysql(v, seg.close);
    case 'dollar':
      return (v) => (v.includes('$') ? undefined : v);
    case 'ident':
      return (v) => escapeQuoteDoubling(v, seg.close);
    case 'comment':
      return () => '';
  }
}

/** The bind parameters of a compiled query, or why a value is refused. */
export function bindValues(q: CompiledQuery & { bound: object }, ctx: VarContext): BuildResult {
  const params: string[] = [];
  for (const tmpl of q.bound.params) {
    const v = expandVarsDetailed(tmpl, ctx).value;
    const refused = refuseValue(v);
    if (refused !== undefined) return { refused };
    params.push(v);
  }
  return { sql: q.bound.sql, params };
}

/** The query with every value escaped for where it stands (Dovecot's way, made stricter). */
export function escapeValues(q: CompiledQuery, ctx: VarContext): BuildResult {
  let sql = '';
  let refused: string | undefined;
  for (const seg of q.segments) {
    const esc = escapeFor(seg, q.dialect);
    const body = expandVarsDetailed(seg.body, ctx, (v) => {
      const why = refuseValue(v);
      const out = why === undefined ? esc(v) : undefined;
      if (out === undefined) refused ??= why ?? `a value has characters not allowed in its place (${seg.ctx}) in the query`;
      return out ?? '';
    }).value;
    sql += seg.open + body + seg.close;
  }
  return refused === undefined ? { sql, params: [] } : { refused };
}

/**
 * PostgreSQL reads an unquoted `user` as CURRENT_USER, so Dovecot's MySQL-minded
 * `WHERE user = '%u'` compares the database login, not a column. Found for a warning.
 */
export function pgsqlUnquotedUser(q: CompiledQuery): boolean {
  return q.dialect === 'pgsql' && q.segments.some((s) => s.ctx === 'plain' && /(?<![A-Za-z0-9_$."])(?<!\bas\s+)user(?![A-Za-z0-9_$"])/i.test(s.body));
}
