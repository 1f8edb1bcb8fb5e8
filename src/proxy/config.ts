import { z } from 'zod';
import { duration } from '../core/index.js';

/** The `proxy:` section: how postern reaches backends. Per-user passdb fields override these. */
export const proxyConfigSchema = z
  .strictObject({
    timeout: duration.prefault('30s').describe('Time allowed to connect to a backend and log in (Dovecot login_proxy_timeout; passdb field proxy_timeout overrides it).'),
    max_reconnects: z.number().int().min(0).prefault(3).describe('Reconnect attempts, reconnect_interval apart, after a failed backend connect or a backend [UNAVAILABLE] (Dovecot login_proxy_max_reconnects). The LMTP proxy retries failed TCP connects only.'),
    reconnect_interval: duration.prefault('1s').describe('Wait between reconnect attempts.'),
    idle_timeout: duration.prefault('1h').describe('A proxied session with no traffic either way for this long is closed. Keep it above the 29-minute IMAP IDLE refresh.'),
    ca_file: z.string().optional().describe('PEM bundle of CAs trusted for backend certificates with ssl=yes / starttls=yes. Default: the system CAs.'),
    ttl: z.number().int().min(1).max(100).prefault(7).describe('Proxy hop limit sent to backends as x-proxy-ttl (IMAP, POP3) or XCLIENT TTL (LMTP) minus one; an IMAP or POP3 client arriving with TTL 1 or less is refused as a loop, an LMTP recipient when the TTL forwarded with XCLIENT is 0 (as in Dovecot lmtp-proxy.c).'),
  })
  .prefault({});

export type ProxyConfig = z.output<typeof proxyConfigSchema>;
