/**
 * The one home of the IMAP codec's limits (STYLE practice 12). Each limit produces one
 * error code in the readers; see `ImapReadErrorCode`.
 */
export interface ImapWireLimits {
  /**
   * Bytes of one whole command, line bytes plus literal bytes (Dovecot counts literals
   * into the line the same way). Default 64 KiB, Dovecot's `imap_max_line_length`; long
   * enough for a SASL-IR line carrying an OAuth bearer token. Violation: `lineTooLong`
   * (the rest of the line is skipped), or `literalTooLarge` for a literal that would
   * not fit. The reader never holds more than this for one command.
   */
  readonly maxLineBytes: number;
  /**
   * Bytes of one literal. Before login, literals only carry user names, passwords
   * (OAuth tokens passed as passwords are 1–4 KB) and ID values, which RFC 2971 §3.3
   * caps at 1024 bytes. Dovecot's whole login input buffer is 4 KiB, so 8 KiB accepts
   * everything a Dovecot proxy does, with room to spare, while keeping a pre-login
   * connection cheap. Violation: `literalTooLarge`; non-fatal for a synchronizing literal
   * (we never send "+", so the client never sends it), fatal for LITERAL+ (RFC 7888):
   * the bytes are already on their way and can't be told apart from commands.
   */
  readonly maxLiteralBytes: number;
  /**
   * Values in one command, counting list items at every depth and the lists themselves.
   * RFC 2971 allows at most 30 ID pairs (61 values); other pre-login commands take at
   * most three. Violation: `tooManyArgs`.
   */
  readonly maxArgs: number;
  /** Parenthesised lists nested inside one another (ID needs one). Violation: `nestingTooDeep`. */
  readonly maxListDepth: number;
  /**
   * Tag length. Dovecot's IMAP_TAG_MAX_LEN (LOGIN_MAX_MASTER_PREFIX_LEN - 2). A longer tag
   * is not echoed back. Violation: `badTag`.
   */
  readonly maxTagBytes: number;
}

export const DEFAULT_IMAP_WIRE_LIMITS: ImapWireLimits = Object.freeze({
  maxLineBytes: 64 * 1024,
  maxLiteralBytes: 8 * 1024,
  maxArgs: 128,
  maxListDepth: 16,
  maxTagBytes: 126,
});

export interface ImapResponseLimits {
  /**
   * Bytes of one response unit from a backend: its lines plus the literals joined into
   * them. Pre-login responses are a banner, CAPABILITY, ID and a tagged reply; 64 KiB is
   * far beyond any of them. Violation: the reader's fatal `responseTooLong` error.
   */
  readonly maxResponseBytes: number;
}

export const DEFAULT_IMAP_RESPONSE_LIMITS: ImapResponseLimits = Object.freeze({
  maxResponseBytes: 64 * 1024,
});

export function resolveWireLimits(partial?: Partial<ImapWireLimits>): ImapWireLimits {
  return { ...DEFAULT_IMAP_WIRE_LIMITS, ...partial };
}
