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
  })
  .describe('Certificates for implicit TLS and STARTTLS.');

export const listenConfigSchema = z.strictObject({
  protocol: z.enum(['imap', 'pop3']).describe('What the listener speaks.'),
  address: z.string().prefault('0.0.0.0').describe('Address to bind; `::` for IPv6 (and IPv4 where the system maps it).'),
  port: z.number().int().min(0).max(65535).describe('TCP port; 0 picks a free one (tests).'),
  tls: z.enum(['starttls', 'implicit', 'none']).prefault('starttls').describe('`implicit`: TLS from the first byte (993); `starttls`: plain, with STARTTLS offered (143); `none`: no TLS at all (plaintext logins are then accepted only from loopback and login_trusted_networks while disable_plaintext_auth is on).'),
  name: z.string().optional().describe('A label for logs and metrics.'),
});

export type TlsConfig = z.output<typeof tlsConfigSchema>;
export type ListenConfig = z.output<typeof listenConfigSchema>;
