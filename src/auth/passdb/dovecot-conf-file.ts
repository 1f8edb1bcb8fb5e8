import { dirname, isAbsolute, join } from 'node:path';
import { AuthError } from '../errors.js';

/*
 * Dovecot 2.3's `key = value` files (dovecot-sql.conf.ext and friends), read as
 * lib-settings/settings.c settings_read_nosection does:
 *   - leading blanks skipped; empty lines and lines starting with `#` skipped, even
 *     inside a continuation;
 *   - a `#` outside '…' or "…" starts a comment (quotes may appear anywhere on the line);
 *   - a line ending in `\` continues on the next one, joined with one space;
 *   - a value wholly inside "…" or '…' is unquoted (a backslash makes the next
 *     character literal); an unquoted value has `$ENV:NAME` replaced (at its start or
 *     after a blank; the name runs to the next space);
 *   - `!include` / `!include_try` read another file, relative to the including one;
 *   - `section { … }` blocks are skipped (no section handler in a passdb's file).
 * The reader is given, so this module does no I/O of its own.
 */

export interface ConfSetting {
  value: string;
  /** `path:line`, for error messages. */
  where: string;
}

/** Returns the file's text, or undefined when it does not exist. Throws on other errors. */
export type ConfReader = (path: string) => string | undefined;

export interface ConfOptions {
  /** Source of `$ENV:NAME`; process.env when absent. */
  env?: Readonly<Record<string, string | undefined>>;
}

const MAX_INCLUDE_DEPTH = 20;
const isWhite = (c: string | undefined): boolean => c === ' ' || c === '\t';

/** lib's str_unescape: a backslash makes the next character literal. */
const unescape = (s: string): string => s.replace(/\\(.)/gs, '$1');

/** Cuts a `#` comment, skipping over quoted strings as Dovecot does. */
function stripComment(line: string): string {
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '"' || c === "'") {
      for (i++; i < line.length && line[i] !== c; i++) if (line[i] === '\\' && i + 1 < line.length) i++;
      if (i >= line.length) break;
    } else if (c === '#') {
      return line.slice(0, i);
    }
  }
  return line;
}

function trimEnd(s: string): string {
  let n = s.length;
  while (n > 0 && isWhite(s[n - 1])) n--;
  return s.slice(0, n);
}

/** settings.c expand_environment_vars: `$ENV:NAME` at the start or after a blank. */
function expandEnv(value: string, env: Readonly<Record<string, string | undefined>>): string {
  return value.replace(/(^|[ \t])\$ENV:([^ ]*)/g, (_m, pre: string, name: string) => pre + (env[name] ?? ''));
}

/** Every `key = value` of the file (later ones win), includes followed. */
export function readDovecotConf(path: string, read: ConfReader, opts: ConfOptions = {}): Map<string, ConfSetting> {
  const out = new Map<string, ConfSetting>();
  const text = read(path);
  if (text === undefined) throw new AuthError('AUTH_CONFIG', `cannot open ${path}: no such file`);
  parseInto(text, path, { read, env: opts.env ?? process.env, out }, [path]);
  return out;
}

interface ParseState {
  read: ConfReader;
  env: Readonly<Record<string, string | undefined>>;
  out: Map<string, ConfSetting>;
}

function parseInto(text: string, path: string, st: ParseState, stack: string[]): void {
  const fail = (n: number, msg: string): never => {
    throw new AuthError('AUTH_CONFIG', `error in configuration file ${path} line ${n}: ${msg}`);
  };
  const lines = text.split('\n');
  let full = '';
  let skipDepth = 0;
  for (let n = 1; n <= lines.length; n++) {
    let line = lines[n - 1]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    let i = 0;
    while (isWhite(line[i])) i++;
    line = line.slice(i);
    if (line === '' || line.startsWith('#')) continue;
    line = trimEnd(stripComment(line));
    if (line.endsWith('\\')) {
      full += `${trimEnd(line.slice(0, -1))} `;
      continue;
    }
    if (full !== '') {
      line = full + line;
      full = '';
    }
    if (line === '') continue;

    const keyEnd = line.search(/[ \t=]/);
    const key = keyEnd < 0 ? line : line.slice(0, keyEnd);
    const rest = (keyEnd < 0 ? '' : line.slice(keyEnd)).replace(/^[ \t]+/, '');

    if (key === '!include' || key === '!include_try') {
      const target = isAbsolute(rest) ? rest : join(dirname(path), rest);
      if (/[*?[{]/.test(rest)) fail(n, `${key} with a glob pattern is not supported`);
      if (stack.includes(target)) fail(n, `recursive include file: ${target}`);
      if (stack.length >= MAX_INCLUDE_DEPTH) fail(n, 'includes nested too deeply');
      if (skipDepth > 0) continue;
      const inc = st.read(target);
      if (inc === undefined) {
        if (key === '!include_try') continue;
        fail(n, `couldn't open include file ${target}`);
      }
      parseInto(inc!, target, st, [...stack, target]);
    } else if (rest.startsWith('=')) {
      let value = rest.slice(1).replace(/^[ \t]+/, '');
      const quoted = value.length >= 2 && ((value.startsWith('"') && value.endsWith('"')) || (value.startsWith("'") && value.endsWith("'")));
      value = quoted ? unescape(value.slice(1, -1)) : expandEnv(value, st.env);
      if (skipDepth === 0) st.out.set(key, { value, where: `${path}:${n}` });
    } else if (key === '}' && rest === '') {
      if (skipDepth === 0) fail(n, "unexpected '}'");
      skipDepth--;
    } else if (rest.endsWith('{')) {
      skipDepth++;
    } else {
      fail(n, "expecting '='");
    }
  }
  if (skipDepth > 0) fail(lines.length, 'missing }');
}
