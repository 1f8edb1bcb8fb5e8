/**
 * The one home of the LMTP codec's limits (STYLE practice 12). Each limit produces one error
 * code in the readers.
 */
export interface LmtpWireLimits {
  /**
   * Bytes of one command line, CRLF included. RFC 5321 §4.5.3.1.4 says 512, and §4.5.3.1.2
   * lets each SMTP extension add to that (MAIL/RCPT parameters); Dovecot allows 4 KiB.
   * Violation: `lineTooLong`; the rest of the line is dropped without being held.
   */
  readonly maxLineBytes: number;
}

export const DEFAULT_LMTP_WIRE_LIMITS: LmtpWireLimits = Object.freeze({
  maxLineBytes: 4 * 1024,
});

export interface LmtpReplyLimits {
  /** Bytes of one reply line, CRLF included (RFC 5321 §4.5.3.1.5 says 512). Violation: fatal `replyTooLong`. */
  readonly maxLineBytes: number;
  /** Lines of one multi-line reply (an LHLO reply lists the extensions). Violation: fatal `replyTooLong`. */
  readonly maxLines: number;
}

export const DEFAULT_LMTP_REPLY_LIMITS: LmtpReplyLimits = Object.freeze({
  maxLineBytes: 4 * 1024,
  maxLines: 100,
});
