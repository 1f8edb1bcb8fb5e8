import { isIP } from 'node:net';
import { z } from 'zod';
import { duration, size } from '../core/index.js';
import { passdbSpecSchema, saslMechanismSchema } from '../auth/config.js';
import { imapConfigSchema } from '../imap/config.js';
import { pop3ConfigSchema } from '../pop3/config.js';
import { lmtpConfigSchema } from '../lmtp/config.js';
import { proxyConfigSchema } from '../proxy/config.js';
import { processConfigSchema } from '../cluster/config.js';
import { limitsConfigSchema, listenConfigSchema, tlsConfigSchema } from '../net/config.js';
import { adminConfigSchema } from '../admin/config.js';

const cidr = z.string().refine((v) => {
  const [addr = '', bits, extra] = v.split('/');
  const family = isIP(addr);
  if (family === 0 || extra !== undefined) return false;
  return bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= (family === 4 ? 32 : 128));
}, 'expected an address or network such as 10.0.0.0/8 or ::1');

const authSchema = z
  .strictObject({
    disable_plaintext_auth: z.boolean().prefault(true).describe('Refuse LOGIN and plaintext SASL mechanisms before TLS, except from loopback (as Dovecot).'),
    failure_delay: duration.prefault('2s').describe('Delay before answering a failed login (Dovecot auth_failure_delay). 0 also stops the penalty from counting, as in Dovecot.'),
    penalty: z.boolean().prefault(true).describe("Dovecot's per-address auth penalty: each failed login from a client address holds that address's next logins 4, 8, then 15 s before they are checked; forgotten 15 s after the last failure, reset by a success. The same wrong user+password repeated is not counted again. Connections from login_trusted_networks are exempt. See docs/auth-cache-and-penalty.md."),
    cache_size: size.prefault(0).describe('Size of the auth cache in bytes (Dovecot auth_cache_size), e.g. "10M"; 0 turns it off, as Dovecot\'s default does. Passdb answers (password hashes and fields) are kept, never plaintext passwords. Flushed by SIGHUP and `postern cache flush`. See docs/auth-cache-and-penalty.md.'),
    cache_ttl: duration.prefault('1 hour').describe('How long a cached passdb answer is used (Dovecot auth_cache_ttl). A password changed in the passdb works at once; the old one keeps working from the cache until this expires, the new one is used, or the cache is flushed.'),
    cache_negative_ttl: duration.prefault('1 hour').describe('How long an "unknown user" answer is cached (Dovecot auth_cache_negative_ttl); 0 caches none.'),
    mechanisms: z
      .array(saslMechanismSchema)
      .min(1)
      .prefault(['PLAIN', 'LOGIN'])
      .describe('SASL mechanisms clients may use (Dovecot auth_mechanisms): PLAIN, LOGIN, CRAM-MD5, SCRAM-SHA-1, SCRAM-SHA-256, XOAUTH2, OAUTHBEARER, EXTERNAL. Of these, only those the passdbs can verify are offered (IMAP AUTH=, POP3 SASL, auth service MECH); each one nothing can verify is a warning at start. See docs/sasl.md.'),
    passdb: z.array(passdbSpecSchema).min(1).describe('Password databases, tried in order as Dovecot does.'),
    master_passdb: z
      .array(passdbSpecSchema)
      .prefault([])
      .describe("Master passdbs (Dovecot passdb { master = yes }): a user found here with the right password may log in as any user the passdb chain knows, by giving that user as SASL authorization identity or as `user*master` with master_user_separator. See docs/sasl.md."),
    master_user_separator: z
      .string()
      .max(1)
      .prefault('')
      .describe('Dovecot auth_master_user_separator, e.g. `*`: `user*master` logs in as user with the password of master. Empty: only the SASL authorization identity asks for a master login.'),
  })
  .superRefine((a, ctx) => {
    if (a.master_user_separator !== '' && a.master_passdb.length === 0) {
      ctx.addIssue({ code: 'custom', path: ['master_user_separator'], message: 'master_user_separator needs master_passdb' });
    }
  })
  .describe('Authentication.');

/** The whole configuration file. Every key is documented in docs/configuration.md, generated from here. */
export const configSchema = z.strictObject({
  log: z
    .strictObject({
      format: z.enum(['json', 'text']).prefault('json').describe('JSON lines, or text for a person reading a terminal.'),
      level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).prefault('info').describe('Least severe level written. `debug` adds passdb decisions (with secret-looking fields masked).'),
    })
    .prefault({})
    .describe('Logging, to standard output. `postern serve --log-format` overrides `format`.'),
  process: processConfigSchema.describe('The process model: workers and how they stop. `workers` takes effect at start; a reload applies the rest.'),
  tls: tlsConfigSchema.optional(),
  listen: z.array(listenConfigSchema).min(1).describe('Listeners.'),
  login_trusted_networks: z.array(cidr).prefault([]).describe('Networks trusted to forward a client address (IMAP ID x-originating-ip, POP3 XCLIENT); also exempt from the plaintext-auth rule like loopback.'),
  haproxy_trusted_networks: z
    .array(cidr)
    .prefault([])
    .describe('Load balancers allowed to send a PROXY protocol header to listeners with `haproxy: true` (Dovecot haproxy_trusted_networks). Required when a listener has `haproxy: true`: a configuration with such a listener and no trusted network is refused.'),
  auth: authSchema,
  imap: imapConfigSchema.describe('Limits and pre-login behaviour of the IMAP listeners.'),
  pop3: pop3ConfigSchema.describe('Limits and pre-login behaviour of the POP3 listeners.'),
  lmtp: lmtpConfigSchema.describe('The LMTP proxy front of the `protocol: lmtp` listeners.'),
  limits: limitsConfigSchema.describe('How many IMAP and POP3 connections are held at once, per user and address, per address, and in all. See docs/limits.md.'),
  proxy: proxyConfigSchema.describe('How postern reaches backends. Per-user passdb fields (proxy_timeout, ssl, starttls, ...) override these; see docs/proxy-fields.md.'),
  admin: adminConfigSchema.optional(),
})
  .superRefine((c, ctx) => {
    if (c.haproxy_trusted_networks.length > 0) return;
    c.listen.forEach((l, i) => {
      if (l.haproxy) ctx.addIssue({ code: 'custom', path: ['listen', i, 'haproxy'], message: 'a haproxy listener needs haproxy_trusted_networks (the load balancers allowed to send the PROXY header)' });
    });
  });

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
