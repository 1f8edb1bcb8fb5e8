import { z } from 'zod';
import { duration } from '../core/index.js';
import { passdbSpecSchema } from '../auth/config.js';
import { imapConfigSchema } from '../imap/config.js';
import { pop3ConfigSchema } from '../pop3/config.js';
import { proxyConfigSchema } from '../proxy/config.js';
import { listenConfigSchema, tlsConfigSchema } from '../net/config.js';

const cidr = z
  .string()
  .regex(/^[0-9a-fA-F:.]+(\/\d{1,3})?$/, 'expected an address or network such as 10.0.0.0/8 or ::1');

const authSchema = z
  .strictObject({
    disable_plaintext_auth: z.boolean().prefault(true).describe('Refuse LOGIN and plaintext SASL mechanisms before TLS, except from loopback (as Dovecot).'),
    failure_delay: duration.prefault('2s').describe('Delay before answering a failed login (Dovecot auth_failure_delay).'),
    mechanisms: z.array(z.enum(['PLAIN', 'LOGIN'])).min(1).prefault(['PLAIN', 'LOGIN']).describe('SASL mechanisms offered to clients.'),
    passdb: z.array(passdbSpecSchema).min(1).describe('Password databases, tried in order as Dovecot does.'),
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
  tls: tlsConfigSchema.optional(),
  listen: z.array(listenConfigSchema).min(1).describe('Listeners.'),
  login_trusted_networks: z.array(cidr).prefault([]).describe('Networks trusted to forward a client address (IMAP ID x-originating-ip, POP3 XCLIENT); also exempt from the plaintext-auth rule like loopback.'),
  auth: authSchema,
  imap: imapConfigSchema.describe('Limits and pre-login behaviour of the IMAP listeners.'),
  pop3: pop3ConfigSchema.describe('Limits and pre-login behaviour of the POP3 listeners.'),
  proxy: proxyConfigSchema.describe('How postern reaches backends. Per-user passdb fields (proxy_timeout, ssl, starttls, ...) override these; see docs/proxy-fields.md.'),
});

export type Config = z.output<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;
