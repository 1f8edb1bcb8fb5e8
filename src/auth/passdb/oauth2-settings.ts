import { isAbsolute, resolve } from 'node:path';
import { z } from 'zod';
import { AuthError } from '../errors.js';
import { readDovecotConf, type ConfReader } from './dovecot-conf-file.js';

/*
 * The oauth2 passdb's settings, with Dovecot 2.3's names and defaults (db-oauth2.c), for
 * checking bearer tokens against an RFC 7662 introspection endpoint (or a userinfo URL).
 * One schema for the inline `oauth2:` object and the keys of a dovecot-oauth2.conf.ext.
 */

const yesNo = z.union([z.boolean(), z.enum(['yes', 'no', 'y', 'n', 'true', 'false'])]).transform((v) => v === true || v === 'yes' || v === 'y' || v === 'true');

export const oauth2SettingsSchema = z
  .object({
    introspection_url: z
      .string()
      .url()
      .describe('Where tokens are checked: an RFC 7662 introspection endpoint, or a userinfo URL. Credentials in the URL (https://client_id:secret@host/...) go as HTTP basic auth.'),
    introspection_mode: z
      .enum(['auth', 'get', 'post'])
      .default('auth')
      .describe('post: POST token=<token> (RFC 7662); get: GET the URL with the token appended; auth: GET with "Authorization: Bearer <token>" (a userinfo endpoint).'),
    username_attribute: z.string().min(1).default('email').describe('The response field that names the user; it must match the login name after username_format.'),
    username_format: z.string().min(1).default('%Lu').describe('How both names are normalised before they are compared (Dovecot variables; %Lu: lower case).'),
    active_attribute: z.string().default('').describe('A response field that must be present for the token to count (RFC 7662: active).'),
    active_value: z.string().default('').describe('The value active_attribute must have (RFC 7662: true).'),
    scope: z.string().default('').describe('Space-separated scopes; the token\'s scope (or aud) must hold one of them. Empty: not checked.'),
    client_id: z.string().default('').describe('Sent with introspection_mode get, as Dovecot.'),
    client_secret: z.string().default('').describe('Sent with introspection_mode get, as Dovecot.'),
    timeout_msecs: z.coerce.number().int().min(0).default(0).describe('How long one introspection may take; 0 means 30 s.'),
    send_auth_headers: yesNo.default(false).describe('Send X-Dovecot-Auth-Service, -Local and -Remote headers.'),
  })
  .strict();

export type Oauth2SettingsInput = z.input<typeof oauth2SettingsSchema>;
export type Oauth2Settings = z.output<typeof oauth2SettingsSchema>;

/** Keys of a Dovecot oauth2 file that postern does not implement: refused, not silently ignored. */
const UNSUPPORTED = new Set(['tokeninfo_url', 'grant_url', 'local_validation_key_dict', 'force_introspection', 'pass_attrs', 'use_grant_password', 'issuers']);
/** Keys that tune Dovecot's HTTP client or logging: no meaning here. */
const IGNORED = new Set(['debug', 'rawlog_dir', 'max_idle_time_msecs', 'max_parallel_connections', 'max_pipelined_requests', 'tls_cipher_suite', 'openid_configuration_url']);

export function oauth2SettingsFromFile(path: string, read: ConfReader): Oauth2Settings {
  const input: Record<string, string> = {};
  for (const [key, { value, where }] of readDovecotConf(path, read)) {
    if (IGNORED.has(key)) continue;
    if (UNSUPPORTED.has(key)) throw new AuthError('AUTH_CONFIG', `${where}: ${key} is not supported by postern's oauth2 passdb (introspection only)`);
    if (!(key in oauth2SettingsSchema.shape)) throw new AuthError('AUTH_CONFIG', `${where}: unknown setting ${key}`);
    input[key] = value;
  }
  const r = oauth2SettingsSchema.safeParse(input);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    throw new AuthError('AUTH_CONFIG', `${path}: ${String(issue.path[0] ?? '')}: ${issue.message}`);
  }
  return r.data;
}

/** The inline `oauth2:` object, or the file `args` names. */
export function resolveOauth2Settings(spec: { args: string; oauth2?: Oauth2Settings | undefined }, read: ConfReader, baseDir?: string): Oauth2Settings {
  const path = spec.args.trim();
  if (spec.oauth2 !== undefined) {
    if (path !== '') throw new AuthError('AUTH_CONFIG', 'passdb oauth2: give either oauth2: settings or args naming a file, not both');
    return spec.oauth2;
  }
  if (path === '') throw new AuthError('AUTH_CONFIG', 'passdb oauth2: needs oauth2: settings or args naming a dovecot-oauth2.conf.ext');
  if (!isAbsolute(path) && baseDir === undefined) throw new AuthError('AUTH_CONFIG', `passdb oauth2: path ${path} is not absolute`);
  return oauth2SettingsFromFile(isAbsolute(path) ? path : resolve(baseDir!, path), read);
}
