/**
 * The one home of the POP3 codec's limits (STYLE practice 12). Each limit produces one
 * error code in the readers.
 */
export interface Pop3WireLimits {
  /**
   * Bytes of one client line, CRLF included. RFC 2449 §4 caps commands at 255 octets, but
   * RFC 5034 §4 lifts that for AUTH and its responses, which carry base64 credentials (an
   * OAuth token passed as a password is 1–4 KB). Default 64 KiB, as for IMAP. Violation:
   * `lineTooLong`; the rest of the line is dropped without being held.
   */
  readonly maxLineBytes: number;
}

export const DEFAULT_POP3_WIRE_LIMITS: Pop3WireLimits = Object.freeze({
  maxLineBytes: 64 * 1024,
});

export interface Pop3ResponseLimits {
  /**
   * Bytes of one backend line. RFC 2449 §4 caps responses at 512 octets; SASL challenges
   * (RFC 5034 §4) may be longer, so 64 KiB. Violation: the reader's fatal `responseTooLong`.
   */
  readonly maxLineBytes: number;
}

export const DEFAULT_POP3_RESPONSE_LIMITS: Pop3ResponseLimits = Object.freeze({
  maxLineBytes: 64 * 1024,
});
