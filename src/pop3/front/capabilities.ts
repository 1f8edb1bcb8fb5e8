/**
 * CAPA before login (RFC 2449 §5), in Dovecot's pop3-login order. postern serves CAPA,
 * PIPELINING, RESP-CODES, AUTH-RESP-CODE, STLS, USER and SASL itself. TOP and UIDL belong to the
 * backend (TRANSACTION state): listed as Dovecot lists them, since clients such as fetchmail choose
 * UIDL tracking and TOP from this list and the servers postern fronts (Dovecot, Cyrus, Courier)
 * serve both. A client relying on TRANSACTION-only capabilities may ask CAPA again after login
 * (RFC 2449 §5); the backend answers that one.
 */
export function preLoginCapabilities(opts: { stls: boolean; plaintextAllowed: boolean; mechanisms: readonly string[] }): string[] {
  const caps = ['CAPA', 'TOP', 'UIDL', 'RESP-CODES', 'PIPELINING', 'AUTH-RESP-CODE'];
  if (opts.stls) caps.push('STLS');
  if (opts.plaintextAllowed) caps.push('USER');
  if (opts.mechanisms.length > 0) caps.push(`SASL ${opts.mechanisms.join(' ')}`);
  return caps;
}
