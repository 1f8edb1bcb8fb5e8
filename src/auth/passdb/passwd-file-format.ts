import { AuthError } from '../errors.js';

/*
 * Dovecot's passwd-file: `user:password:uid:gid:gecos:home:shell:extra_fields`,
 * parsed as db-passwd-file.c does. No I/O here.
 */

export interface PasswdEntry {
  /** As written, `{SCHEME}` included; null when the field is absent or empty. */
  password: string | null;
  /** Raw `key=value` tokens, expanded per request by the driver. */
  extraFields: readonly string[];
}

export interface ParsedPasswdFile {
  users: Map<string, PasswdEntry>;
  /** Problems worth a log line. They never quote a password. */
  warnings: string[];
}

/**
 * libpam-pwdfile's `password[NN]` suffix: 34 means MD5, 56 DIGEST-MD5, anything else
 * CRYPT. Dovecot honours it when the password has no `{SCHEME}` and is not `$...`.
 */
function pamSuffix(pass: string): string {
  const len = pass.length;
  if (len <= 4 || pass[0] === '{' || pass[0] === '$' || pass[len - 1] !== ']' || pass[len - 4] !== '[') return pass;
  const num = pass.slice(len - 3, len - 1);
  const bare = pass.slice(0, len - 4);
  if (num === '34') return `{PLAIN-MD5}${bare}`;
  if (num === '56') return `{DIGEST-MD5}${bare}`;
  return `{CRYPT}${bare}`;
}

export function parsePasswdFile(text: string): ParsedPasswdFile {
  const users = new Map<string, PasswdEntry>();
  const warnings: string[] = [];
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n++) {
    let line = lines[n]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    // Same skips as Dovecot: empty, no user name, comment. No trimming.
    if (line === '' || line.startsWith(':') || line.startsWith('#')) continue;
    if (line.includes('\0')) {
      // C would cut the line at the NUL; a line that differs by reader is safest ignored.
      warnings.push(`line ${n + 1}: contains a NUL byte, ignored`);
      continue;
    }
    const parts = line.split(':');
    const user = parts[0]!;
    if (users.has(user)) {
      warnings.push(`line ${n + 1}: user ${JSON.stringify(user)} exists more than once, later entry ignored`);
      continue;
    }
    const pass = parts[1];
    // Field 8 on; an empty field 8 is the old format (userdb mail, not for passdb).
    const extra = parts.length > 7 && parts[7] !== '' ? parts.slice(7).join(':') : '';
    users.set(user, {
      password: pass === undefined || pass === '' ? null : pamSuffix(pass),
      extraFields: extra.split(' ').filter((t) => t !== ''),
    });
  }
  return { users, warnings };
}

export interface PasswdFileArgs {
  path: string;
  /** Scheme of passwords without `{SCHEME}`; Dovecot's default is CRYPT. */
  scheme: string;
  usernameFormat: string;
}

/**
 * `[scheme=X] [username_format=%u] /path`. Dovecot's options end where an arg starts
 * with `/`; we also end them at the first token that is not `key=value`, so a path
 * relative to the config file can be given (the driver resolves it).
 */
export function parsePasswdFileArgs(args: string): PasswdFileArgs {
  const out: PasswdFileArgs = { path: '', scheme: 'CRYPT', usernameFormat: '%u' };
  let rest = args.trim();
  for (;;) {
    const m = /^([a-z_]+)=(\S*)(?: +|$)/.exec(rest);
    if (!m || rest.startsWith('/')) break;
    const [all, key, value] = m;
    if (key === 'scheme') out.scheme = value!;
    else if (key === 'username_format') out.usernameFormat = value!;
    else throw new AuthError('AUTH_CONFIG', `passdb passwd-file: unknown setting ${JSON.stringify(key)}`);
    rest = rest.slice(all.length);
  }
  if (rest === '') throw new AuthError('AUTH_CONFIG', 'passdb passwd-file: missing the file path');
  out.path = rest;
  return out;
}
