import { z } from 'zod';

export const tlsConfigSchema = z
  .strictObject({
    cert: z.string().describe('PEM certificate chain file for the listeners.'),
    key: z.string().describe('PEM private key file for `cert`.'),
    sni: z
      .array(
        z.strictObject({
          names: z.array(z.string().min(1)).min(1).describe('Server names (SNI) this certificate answers; `*.example.org` matches one label.'),
          cert: z.string().describe('PEM certificate chain file for these names.'),
          key: z.string().describe('PEM private key file for this `cert`.'),
        }),
      )
      .prefault([])
      .describe('Extra certificates chosen by the server name the client asks for.'),
    min_version: z.enum(['TLSv1.2', 'TLSv1.3']).prefault('TLSv1.2').describe('Oldest TLS version accepted from clients.'),
    client_ca: z
      .string()
      .optional()
      .describe("PEM file of the CAs that sign client certificates (Dovecot ssl_ca with ssl_verify_client_cert = yes). With it, TLS clients are asked for a certificate; one that verifies lets the client log in with SASL EXTERNAL as the certificate's user (see docs/sasl.md). A client without a certificate, or with one that does not verify, is still served and may log in otherwise."),
    ticket_key_file: z
      .string()
      .optional()
      .describe('File of 48 random bytes (`openssl rand 48 > ticket.key`) that encrypt TLS session tickets, for nodes behind one load balancer to resume each other\'s sessions (nginx ssl_session_ticket_key). Without it, postern makes the keys at start: every worker shares them and a reload keeps them; a restart changes them. Replace the file and reload to rotate.'),
    cert_username_field: z
      .string()
      .regex(/^[A-Za-z][A-Za-z0-9.-]*$/, 'expected a subject attribute name such as commonName or emailAddress')
      .prefault('commonName')
      .describe("The subject attribute of a verified client certificate that holds the user name (Dovecot ssl_cert_username_field): commonName (CN), emailAddress, UID, ..."),
  })
  .describe('Certificates for implicit TLS and STARTTLS.');

const socketMode = z
  .string()
  .regex(/^0?[0-7]{3}$/, "expected an octal mode in quotes, such as '0660' (YAML reads an unquoted 0660 as the number 660)");

/**
 * One listener. `port` is a TCP port; `path` a unix socket (auth listeners, as Dovecot's
 * `unix_listener`), with `mode`, `user` and `group` for the socket file. `tls` defaults by
 * protocol: `starttls` for imap and pop3, `none` for auth (the protocol has no TLS).
 */
export const listenConfigSchema = z
  .strictObject({
    protocol: z.enum(['imap', 'pop3', 'auth', 'lmtp']).describe("What the listener speaks. `auth` is Dovecot's auth-client protocol, for Postfix (`smtpd_sasl_type = dovecot`) and Exim's `dovecot` authenticator: see docs/auth-service.md. `lmtp` is the LMTP proxy (RFC 2033) MTAs deliver to, on a TCP port or a unix socket (see the `lmtp:` section)."),
    address: z.string().prefault('0.0.0.0').describe('Address to bind; `::` for IPv6 (and IPv4 where the system maps it). Not used with `path`.'),
    port: z.number().int().min(0).max(65535).optional().describe('TCP port; 0 picks a free one (tests). Give either `port` or `path`.'),
    path: z.string().min(1).optional().describe("A unix socket instead of a TCP port (auth and lmtp listeners only), like Dovecot's `unix_listener`; relative paths are read from the config file's folder. A stale socket file left by a previous run is replaced; one in use is an error."),
    mode: socketMode.optional().describe('Permissions of the unix socket file (default `0600`). Exim and Postfix must be able to write to it: `0660` with `group`, or `0666` in a folder only the MTA can enter.'),
    user: z.string().min(1).optional().describe('Owner of the unix socket file: a user name or numeric id (postern must be allowed to change it, normally as root).'),
    group: z.string().min(1).optional().describe('Group of the unix socket file: a group name or numeric id.'),
    tls: z.enum(['starttls', 'implicit', 'none']).optional().describe('`implicit`: TLS from the first byte (993); `starttls`: plain, with STARTTLS offered (143); `none`: no TLS at all (plaintext logins are then accepted only from loopback and login_trusted_networks while disable_plaintext_auth is on). Default `starttls` for imap and pop3, `none` for lmtp (which takes `starttls` or `implicit` on a TCP port, as Dovecot LMTP does with ssl = yes); auth listeners take only `none`.'),
    name: z.string().optional().describe('A label for logs and metrics.'),
    haproxy: z
      .boolean()
      .optional()
      .describe("Expect a PROXY protocol header (v1 or v2, HAProxy's `send-proxy`/`send-proxy-v2`) first on every connection, before TLS on implicit-TLS listeners (Dovecot `haproxy = yes`). Only peers in haproxy_trusted_networks are accepted; any other connection, a malformed header or none within 5 s is closed with a `haproxy_refused` log line. The client address it carries is then used everywhere: logs, penalty, passdb `%r`, IMAP ID and POP3 XCLIENT to the backend."),
  })
  .superRefine((l, ctx) => {
    const issue = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
    if ((l.port === undefined) === (l.path === undefined)) issue(l.port === undefined ? 'port' : 'path', 'give either port (TCP) or path (unix socket), not both');
    if (l.path !== undefined && l.protocol !== 'auth' && l.protocol !== 'lmtp') issue('path', 'unix sockets are for auth and lmtp listeners; imap and pop3 listen on a TCP port');
    if (l.protocol === 'lmtp' && l.path !== undefined && l.tls !== undefined && l.tls !== 'none') issue('tls', 'TLS is for lmtp listeners on a TCP port; a unix socket is already private');
    if (l.haproxy && l.path !== undefined) issue('haproxy', 'the PROXY protocol is for TCP listeners (port)');
    for (const key of ['mode', 'user', 'group'] as const) {
      if (l[key] !== undefined && l.path === undefined) issue(key, `${key} applies to a unix socket (path) only`);
    }
    if (l.protocol === 'auth' && l.tls !== undefined && l.tls !== 'none') {
      issue('tls', 'auth listeners have no TLS (Postfix and Exim speak the protocol in plaintext): use a unix socket or a loopback address');
    }
  })
  .transform((l) => ({ ...l, tls: l.tls ?? (l.protocol === 'auth' || l.protocol === 'lmtp' ? 'none' : 'starttls') }));

export type TlsConfig = z.output<typeof tlsConfigSchema>;
export type ListenConfig = z.output<typeof listenConfigSchema>;

/**
 * The `limits:` section: how many IMAP and POP3 connections postern holds at once. Clients in
 * login_trusted_networks are exempt from the per-address and per-user limits. See docs/limits.md.
 */
export const limitsConfigSchema = z
  .strictObject({
    max_userip_connections: z
      .number()
      .int()
      .min(0)
      .prefault(20)
      .describe("Logged-in (proxied) sessions of one user from one client address, per protocol (Dovecot mail_max_userip_connections, whose default is 10). The next login gets IMAP `NO [LIMIT]` / POP3 `-ERR [IN-USE]` and is disconnected. 0: no limit."),
    max_connections_per_address: z
      .number()
      .int()
      .min(0)
      .prefault(0)
      .describe('IMAP and POP3 connections from one client address, before and after login. A connection over the limit gets `* BYE` / `-ERR` and is closed at once. 0 (the default): no limit; users behind one NAT share an address.'),
    max_connections: z
      .number()
      .int()
      .min(0)
      .prefault(10000)
      .describe("IMAP and POP3 connections in all, before and after login (Dovecot's imap-login client_limit × process_limit). A connection over the limit gets `* BYE` / `-ERR` and is closed at once. Each proxied session holds two file descriptors: raise the open-files limit (systemd LimitNOFILE) to match; `serve` and `check` warn when it is lower than each worker's share needs. 0: no limit."),
  })
  .prefault({});

export type LimitsConfig = z.output<typeof limitsConfigSchema>;
