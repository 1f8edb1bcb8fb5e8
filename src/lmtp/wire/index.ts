// LMTP wire codec (RFC 2033, RFC 5321): no I/O. Serves the client front and the backend client.
export { DEFAULT_LMTP_REPLY_LIMITS, DEFAULT_LMTP_WIRE_LIMITS, type LmtpReplyLimits, type LmtpWireLimits } from './limits.js';
export { LmtpCommandReader, type LmtpReadError, type LmtpReadErrorCode, type LmtpReadResult } from './command-reader.js';
export { parseCommand, type EsmtpParam, type LmtpCommand, type LmtpSyntaxError } from './command-parser.js';
export type { DataResult } from './data-reader.js';
export { LmtpReplyReader, type LmtpReply, type LmtpReplyError, type LmtpReplyErrorCode, type LmtpReplyResult } from './reply-reader.js';
