import { XCLIENT_OFFERED } from './xclient-in.js';

export interface LhloOffer {
  hostname: string;
  maxMessageBytes: number;
  /** The listener has TLS and the session is not yet secured. */
  starttls: boolean;
  /** The peer is in login_trusted_networks. */
  trusted: boolean;
}

/**
 * The LHLO reply (RFC 2033 §4.1), extensions in Dovecot's alphabetical order. XCLIENT and
 * XRCPTFORWARD go to trusted peers only, as Dovecot's LMTP offers them.
 */
export function lhloReply(o: LhloOffer): string {
  const lines = [
    o.hostname,
    '8BITMIME',
    'ENHANCEDSTATUSCODES',
    'PIPELINING',
    `SIZE ${o.maxMessageBytes}`,
    ...(o.starttls ? ['STARTTLS'] : []),
    ...(o.trusted ? [`XCLIENT ${XCLIENT_OFFERED}`, 'XRCPTFORWARD'] : []),
  ];
  return lines.map((l, i) => `250${i === lines.length - 1 ? ' ' : '-'}${l}`).join('\r\n');
}
