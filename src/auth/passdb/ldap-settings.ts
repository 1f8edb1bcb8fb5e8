import { z } from 'zod';
import { Secret } from '../../core/index.js';
import { AuthError } from '../errors.js';
import { getScheme } from '../schemes/registry.js';
import { findUnknownVars } from '../vars.js';
import { parsePassAttrs, type PassAttrs } from './ldap-attrs.js';
import type { ConfSetting } from './dovecot-conf-file.js';

/*
 * The ldap passdb's settings, with Dovecot 2.3's names and defaults (db-ldap.c
 * default_ldap_settings). The same schema checks the inline YAML `ldap:` object and
 * the keys of a dovecot-ldap.conf.ext file. No I/O here: files are read through `read`.
 */

export const DEFAULT_PASS_FILTER = '(&(objectClass=posixAccount)(uid=%u))';
export const DEFAULT_PASS_ATTRS = 'uid=user,userPassword=password';

// Dovecot's files say yes/no; YAML may say true/false.
const yesNo = z
  .union([z.boolean(), z.enum(['yes', 'no', 'y', 'n', 'true', 'false'])])
  .transform((v) => v === true || v === 'yes' || v === 'y' || v === 'true');

export const ldapSettingsSchema = z
  .object({
    uris: z.string().optional().describe('LDAP URIs, space separated, tried in order: ldap://host:port, ldaps://host, ldapi://%2Fpath%2Fto%2Fsocket.'),
    hosts: z.string().optional().describe('Instead of uris: "host[:port] ..." reached with ldap:// (StartTLS with tls).'),
    dn: z.string().optional().describe('DN to bind as for searches; anonymous when unset.'),
    dnpass: z.string().optional().describe('Password of dn.'),
    base: z.string().describe('Search base DN; %variables are expanded (escaped for a DN).'),
    scope: z.enum(['base', 'onelevel', 'subtree']).default('subtree').describe('Search scope.'),
    deref: z.enum(['never', 'searching', 'finding', 'always']).default('never').describe('Alias dereferencing.'),
    pass_filter: z.string().default(DEFAULT_PASS_FILTER).describe('Search filter; %variables are escaped per RFC 4515.'),
    pass_attrs: z
      .string()
      .default(DEFAULT_PASS_ATTRS)
      .describe('Attributes to fields: "ldapAttr=field, =field=template %{ldap:attr}, ..." as Dovecot 2.3.'),
    auth_bind: yesNo.default(false).describe('Verify passwords by binding as the user found by pass_filter.'),
    auth_bind_userdn: z
      .string()
      .optional()
      .describe('With auth_bind: bind as this DN template (e.g. "uid=%n,ou=people,dc=example,dc=com") without a search.'),
    tls: yesNo.default(false).describe('Use StartTLS on ldap:// connections.'),
    tls_ca_cert_file: z.string().optional().describe('PEM file of the CAs that verify the server; system CAs when unset.'),
    tls_ca_cert_dir: z.string().optional().describe('Folder of PEM CA certificates (every file in it is read).'),
    tls_cert_file: z.string().optional().describe('Client certificate (PEM) to present to the server.'),
    tls_key_file: z.string().optional().describe('Key (PEM) of tls_cert_file.'),
    tls_cipher_suite: z.string().optional().describe("Cipher list in OpenSSL syntax (Node's TLS)."),
    tls_require_cert: z
      .enum(['never', 'hard', 'demand', 'allow', 'try'])
      .optional()
      .describe('Server certificate check: never and allow do not verify; try, demand and hard (the default) do.'),
    ldap_version: z.number().int().min(2).max(3).default(3).describe('LDAP protocol version; postern always speaks 3.'),
    default_pass_scheme: z.string().default('CRYPT').describe('Scheme of password values without a {SCHEME} prefix.'),
  })
  .strict();

export type LdapSettingsInput = z.input<typeof ldapSettingsSchema>;
export type LdapSettings = z.output<typeof ldapSettingsSchema>;

/** Keys a dovecot-ldap.conf.ext may hold that a passdb does not use (userdb, libldap). */
const IGNORED_FILE_KEYS = new Set([
  'user_attrs', 'user_filter', 'iterate_attrs', 'iterate_filter', 'blocking', 'debug_level',
  'ldaprc_path', 'userdb_warning_disable', 'sasl_mech', 'sasl_realm', 'sasl_authz_id',
]);
const BOOL_KEYS = new Set(['auth_bind', 'tls', 'sasl_bind']);
const CASELESS_KEYS = new Set(['scope', 'deref', 'tls_require_cert']);

/** The settings of a dovecot-ldap.conf.ext, type-checked as Dovecot's reader does. */
export function settingsFromConf(conf: Map<string, ConfSetting>, path: string): LdapSettings {
  const raw: Record<string, unknown> = {};
  for (const [key, { value, where }] of conf) {
    const fail = (msg: string): never => {
      throw new AuthError('AUTH_CONFIG', `${where}: ${msg}`);
    };
    if (IGNORED_FILE_KEYS.has(key)) continue;
    if (BOOL_KEYS.has(key)) {
      if (!/^(yes|no)$/i.test(value)) fail(`invalid boolean: ${value}`);
      const b = value.toLowerCase() === 'yes';
      if (key === 'sasl_bind') {
        if (b) fail('sasl_bind=yes is not supported by postern');
        continue;
      }
      raw[key] = b;
    } else if (key === 'ldap_version') {
      // C's %i: decimal, 0x hex or 0 octal.
      const n = /^0x[0-9a-f]+$/i.test(value) ? parseInt(value, 16) : /^0[0-7]+$/.test(value) ? parseInt(value, 8) : /^\d+$/.test(value) ? Number(value) : NaN;
      if (Number.isNaN(n)) fail(`invalid number: ${value}`);
      raw[key] = n;
    } else if (CASELESS_KEYS.has(key)) {
      raw[key] = value.toLowerCase(); // Dovecot compares these with strcasecmp
    } else if (key in ldapSettingsSchema.shape) {
      raw[key] = value;
    } else {
      fail(`unknown setting: ${key}`);
    }
  }
  if (raw['base'] === undefined) throw new AuthError('AUTH_CONFIG', `LDAP ${path}: no base given`);
  const r = ldapSettingsSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const key = String(issue.path[0] ?? '');
    throw new AuthError('AUTH_CONFIG', `${conf.get(key)?.where ?? path}: ${key}: ${issue.message}`);
  }
  return r.data;
}

/** One server to try: what ldapts connects to and how it is named in logs. */
export interface LdapServer {
  /** `ldap://host:port` or `ldaps://...`; an ldapi socket is reached through ldap://. */
  url: string;
  label: string;
  /** Set for ldapi://. */
  socketPath?: string;
  /** Host name to verify the certificate against (ldaps and StartTLS). */
  host: string;
}

export interface LdapTls {
  ca?: string[];
  cert?: string;
  key?: string;
  ciphers?: string;
  rejectUnauthorized: boolean;
}

/** Everything the driver needs, checked and with files read. */
export interface LdapConfig {
  servers: LdapServer[];
  dn?: string;
  dnpass?: Secret;
  base: string;
  scope: 'base' | 'one' | 'sub';
  deref: 'never' | 'search' | 'find' | 'always';
  passFilter: string;
  passAttrs: PassAttrs;
  authBind: boolean;
  authBindUserdn?: string;
  startTls: boolean;
  tls: LdapTls;
  defaultPassScheme: string;
  /** For a log line at start: settings accepted but not honoured as Dovecot would. */
  warnings: string[];
}

export interface FileAccess {
  /** Resolves a relative path (against the file that named it). */
  resolve(path: string): string;
  readText(path: string): string;
  /** Full paths of the regular files in a folder. */
  listDir(path: string): string[];
}

function parseServers(s: LdapSettings): LdapServer[] {
  const out: LdapServer[] = [];
  if (s.uris !== undefined) {
    for (const uri of s.uris.split(/[\s,]+/).filter(Boolean)) out.push(parseUri(uri));
  } else if (s.hosts !== undefined) {
    for (const h of s.hosts.split(/\s+/).filter(Boolean)) {
      // host, host:port, [v6]:port, or a bare v6 address.
      const bare = (h.match(/:/g) ?? []).length > 1 && !h.startsWith('[');
      out.push(parseUri(`ldap://${bare ? `[${h}]` : h}`));
    }
  }
  if (out.length === 0) throw new AuthError('AUTH_CONFIG', 'LDAP: no uris or hosts set');
  return out;
}

function parseUri(uri: string): LdapServer {
  const bad = (why: string): never => {
    throw new AuthError('AUTH_CONFIG', `LDAP: invalid URI ${JSON.stringify(uri)}: ${why}`);
  };
  const m = /^(ldaps?|ldapi):\/\/([^/?]*)/i.exec(uri);
  if (!m) return bad('expected ldap://, ldaps:// or ldapi://');
  const scheme = m[1]!.toLowerCase();
  if (scheme === 'ldapi') {
    const socketPath = decodeURIComponent(m[2]!);
    if (!socketPath.startsWith('/')) bad('ldapi:// needs the socket path, e.g. ldapi://%2Frun%2Fslapd%2Fldapi');
    return { url: 'ldap://localhost', label: uri, socketPath, host: 'localhost' };
  }
  let url: URL;
  try {
    url = new URL(`${scheme}://${m[2]}`);
  } catch {
    return bad('cannot parse host and port');
  }
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (host === '') bad('no host');
  const port = url.port || (scheme === 'ldaps' ? '636' : '389');
  const hostPart = host.includes(':') ? `[${host}]` : host;
  return { url: `${scheme}://${hostPart}:${port}`, label: `${scheme}://${hostPart}:${port}`, host };
}

const SCOPES = { base: 'base', onelevel: 'one', subtree: 'sub' } as const;
const DEREFS = { never: 'never', searching: 'search', finding: 'find', always: 'always' } as const;

/** Checks the settings as db_ldap_init does and reads the TLS files. Throws AuthError. */
export function resolveLdapConfig(s: LdapSettings, files: FileAccess): LdapConfig {
  const warnings: string[] = [];
  const servers = parseServers(s);
  if (s.ldap_version < 3) {
    if (s.tls) throw new AuthError('AUTH_CONFIG', 'LDAP: tls=yes requires ldap_version=3');
    warnings.push('ldap_version=2 is not supported; speaking LDAPv3');
  }
  if (s.tls && servers.some((x) => x.url.startsWith('ldaps:'))) {
    throw new AuthError('AUTH_CONFIG', "LDAP: don't use both tls=yes and ldaps URIs");
  }
  if (!getScheme(s.default_pass_scheme)) {
    throw new AuthError('AUTH_CONFIG', `LDAP: unknown default_pass_scheme ${s.default_pass_scheme}`);
  }
  for (const [key, tmpl] of [['base', s.base], ['pass_filter', s.pass_filter], ['auth_bind_userdn', s.auth_bind_userdn]] as const) {
    if (tmpl === undefined) continue;
    const unknown = findUnknownVars(tmpl);
    if (unknown.length > 0) throw new AuthError('AUTH_CONFIG', `LDAP: unknown variable ${unknown.join(', ')} in ${key}`);
  }
  if (s.auth_bind_userdn !== undefined && !s.auth_bind) warnings.push('auth_bind_userdn is ignored without auth_bind=yes');

  const read = (key: string, path: string): string => {
    const full = files.resolve(path);
    try {
      return files.readText(full);
    } catch (err) {
      throw new AuthError('AUTH_CONFIG', `LDAP: cannot read ${key} ${full}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const ca: string[] = [];
  if (s.tls_ca_cert_file !== undefined) ca.push(read('tls_ca_cert_file', s.tls_ca_cert_file));
  if (s.tls_ca_cert_dir !== undefined) {
    let list: string[];
    try {
      list = files.listDir(files.resolve(s.tls_ca_cert_dir));
    } catch (err) {
      throw new AuthError('AUTH_CONFIG', `LDAP: cannot read tls_ca_cert_dir: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    for (const f of list) {
      const text = read('tls_ca_cert_dir file', f);
      if (text.includes('-----BEGIN CERTIFICATE-----')) ca.push(text);
    }
  }
  if ((s.tls_cert_file === undefined) !== (s.tls_key_file === undefined)) {
    throw new AuthError('AUTH_CONFIG', 'LDAP: tls_cert_file and tls_key_file go together');
  }
  const tls: LdapTls = {
    rejectUnauthorized: s.tls_require_cert !== 'never' && s.tls_require_cert !== 'allow',
    ...(ca.length > 0 ? { ca } : {}),
    ...(s.tls_cert_file !== undefined ? { cert: read('tls_cert_file', s.tls_cert_file) } : {}),
    ...(s.tls_key_file !== undefined ? { key: read('tls_key_file', s.tls_key_file) } : {}),
    ...(s.tls_cipher_suite !== undefined ? { ciphers: s.tls_cipher_suite } : {}),
  };

  return {
    servers,
    ...(s.dn !== undefined && s.dn !== '' ? { dn: s.dn } : {}),
    ...(s.dnpass !== undefined ? { dnpass: new Secret(s.dnpass) } : {}),
    base: s.base,
    scope: SCOPES[s.scope],
    deref: DEREFS[s.deref],
    passFilter: s.pass_filter,
    // Under auth_bind the password is the bind's business: not fetched at all.
    passAttrs: parsePassAttrs(s.pass_attrs, s.auth_bind ? 'password' : undefined),
    authBind: s.auth_bind,
    ...(s.auth_bind && s.auth_bind_userdn !== undefined ? { authBindUserdn: s.auth_bind_userdn } : {}),
    startTls: s.tls,
    tls,
    defaultPassScheme: s.default_pass_scheme,
    warnings,
  };
}
