import { isIP } from 'node:net';
import type { EsmtpParam } from '../wire/index.js';
import { R } from './replies.js';

/** What a trusted proxy in front says about the MTA with XCLIENT; absent attributes keep their value. */
export interface ForwardedClient {
  addr?: string;
  port?: number;
  helo?: string;
  proto?: 'SMTP' | 'ESMTP' | 'LMTP';
  login?: string;
  session?: string;
  /** Proxy hops left: 0 means the next proxying is a loop. */
  ttl?: number;
  timeoutSecs?: number;
}

export type XclientResult = { kind: 'ok'; client: ForwardedClient } | { kind: 'invalid'; reply: string };

/** What postern's LHLO offers trusted peers: Dovecot 2.3's LMTP list (smtp-server-reply.c). */
export const XCLIENT_OFFERED = 'ADDR PORT PROTO HELO LOGIN SESSION TTL TIMEOUT';

/** xtext (RFC 3461 §4) back to text; undefined when a "+" is not followed by two hex digits. */
export function xtextDecode(value: string): string | undefined {
  if (!value.includes('+')) return value;
  const bytes: number[] = [];
  for (let i = 0; i < value.length; i++) {
    if (value[i] !== '+') {
      bytes.push(...Buffer.from(value[i]!, 'utf8'));
      continue;
    }
    const hex = value.slice(i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) return undefined;
    bytes.push(parseInt(hex, 16));
    i += 2;
  }
  return Buffer.from(bytes).toString('utf8');
}

const UNAVAILABLE = '[UNAVAILABLE]';
const UINT = /^\d{1,9}$/;
/** A HELO name as Dovecot keeps it: printable, no spaces; anything else is dropped, not refused. */
const HELO = /^[\x21-\x7e]{1,255}$/;

/**
 * XCLIENT as Dovecot's LMTP server reads it (lib-smtp smtp-server-cmd-xclient.c): values are
 * xtext; `[UNAVAILABLE]` leaves a value alone; ADDR may carry Postfix's "IPV6:" prefix; a bad
 * ADDR, PORT, PROTO, TTL or TIMEOUT refuses the whole command with 501; unknown attributes
 * (DESTADDR, FORWARD, ...) are ignored.
 */
export function parseXclient(params: readonly EsmtpParam[]): XclientResult {
  const client: ForwardedClient = {};
  const invalid = (kw: string): XclientResult => ({ kind: 'invalid', reply: R.xclientInvalid(kw) });
  for (const p of params) {
    const value = xtextDecode(p.value ?? '');
    if (value === undefined) return { kind: 'invalid', reply: R.xclientBadXtext(p.keyword) };
    const unavailable = value.toUpperCase() === UNAVAILABLE;
    switch (p.keyword) {
      case 'ADDR': {
        if (unavailable) break;
        const ipv6 = /^IPV6:/i.test(value);
        const ip = ipv6 ? value.slice(5) : value;
        const family = isIP(ip);
        if (family === 0 || (ipv6 && family !== 6)) return invalid('ADDR');
        client.addr = ip;
        break;
      }
      case 'PORT': {
        if (unavailable) break;
        const port = UINT.test(value) ? Number(value) : -1;
        if (port < 1 || port > 65535) return invalid('PORT');
        client.port = port;
        break;
      }
      case 'HELO':
        if (!unavailable && HELO.test(value)) client.helo = value;
        break;
      case 'PROTO': {
        const proto = value.toUpperCase();
        if (proto !== 'SMTP' && proto !== 'ESMTP' && proto !== 'LMTP') return invalid('PROTO');
        client.proto = proto;
        break;
      }
      case 'LOGIN':
        if (!unavailable) client.login = value;
        break;
      case 'SESSION':
        if (!unavailable && /^[\x21-\x7e]{1,64}$/.test(value)) client.session = value;
        break;
      case 'TTL':
        if (!UINT.test(value)) return invalid('TTL');
        client.ttl = Number(value);
        break;
      case 'TIMEOUT':
        if (!UINT.test(value)) return invalid('TIMEOUT');
        client.timeoutSecs = Number(value);
        break;
      default:
        break;
    }
  }
  return { kind: 'ok', client };
}
