import { z } from 'zod';
import { duration } from '../core/index.js';

/** The `proxy:` section: how postern reaches backends. Per-user passdb fields override these. */
export const proxyConfigSchema = z
  .strictObject({
    timeout: duration.prefault('30s').describe('Time allowed to connect to a backend and log in (Dovecot login_proxy_timeout; passdb field proxy_timeout overrides it).'),
    max_reconnects: z.number().int().min(0).prefault(3).describe('Reconnect attempts, reconnect_interval apart, after a failed backend connect or a backend [UNAVAILABLE] (Dovecot login_proxy_max_reconnects). The LMTP proxy retries failed TCP connects only.'),
    reconnect_interval: duration.prefault('1s').describe('Wait between reconnect attempts.'),
    idle_timeout: duration.prefault('1h').describe('A proxied session with no traffic either way for this long is closed. Keep it above the 29-minute IMAP IDLE refresh.'),
    ca_file: z.string().optional().describe('PEM bundle of CAs trusted for backend certificates with ssl=yes / starttls=yes. Default: the CAs Node trusts (its bundled list, plus the file named by NODE_EXTRA_CA_CERTS).'),
    ssl_session_reuse: z
      .boolean()
      .prefault(true)
      .describe("Resume backends' TLS sessions (ssl=yes, starttls=yes, any-cert): where the relay runs a backend's TLS, it keeps the last session of each backend (by address, port, SNI name and checked name; 256 per CA bundle; a session made under any-cert never serves a verified connection) and offers it at the next login to that backend, sparing a full handshake. false: a full handshake every login, as Node's TLS (relay: js) always makes; for a backend that mishandles resumption (nginx proxy_ssl_session_reuse)."),
    source_ips: z
      .array(z.string().regex(/^\??[^\s?]+$/, 'expected an address or host name, optionally after ?'))
      .prefault([])
      .describe('Source addresses for backend connects, used in turn, one round-robin per address family (Dovecot login_source_ips). A host name stands for all its addresses. Each must be an address of this machine, or postern does not start; `?name` keeps only those that are (one file for several hosts). The passdb field `source_ip` overrides it per user.'),
    max_disconnect_delay: duration
      .prefault(0)
      .describe("When a backend closes its sessions (it stopped or died), their clients are disconnected spread over up to this long, so they do not all reconnect at once (Dovecot login_proxy_max_disconnect_delay). The first second's worth goes at once; the others wait their turn with the connection held open and their input ignored. 0: all at once."),
    relay: z
      .enum(['auto', 'js'])
      .prefault('auto')
      .describe("How a proxied session's bytes move once logged in. auto: in native code with no JavaScript per chunk, and splice(2) (no copy through user space) when neither side uses TLS (Linux, built at npm ci from native/relay.c, session.c and tls.c; without it postern warns at start and uses js); the relay also accepts the connections of IMAP and POP3 listeners (not haproxy ones), runs their TLS, implicit and STARTTLS, with Node's OpenSSL (not with tls.client_ca), and opens the backend connection of a login, running its TLS too (ssl=yes, starttls=yes, verified as Node verifies; Node's TLS when node runs with --use-openssl-ca or --use-system-ca); postern logs in over them. js: Node's sockets and TLS, for every session and listener."),
    ttl: z.number().int().min(1).max(100).prefault(7).describe('Proxy hop limit sent to backends as x-proxy-ttl (IMAP, POP3) or XCLIENT TTL (LMTP) minus one; an IMAP or POP3 client arriving with TTL 1 or less is refused as a loop, an LMTP recipient when the TTL forwarded with XCLIENT is 0 (as in Dovecot lmtp-proxy.c).'),
  })
  .prefault({});

export type ProxyConfig = z.output<typeof proxyConfigSchema>;
