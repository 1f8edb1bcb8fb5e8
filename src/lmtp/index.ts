// The LMTP proxy front (RFC 2033, Dovecot's lmtp_proxy): MTAs deliver here, recipients are routed per RCPT.
export { lmtpConfigSchema, type LmtpConfig } from './config.js';
export { LmtpSession, type LmtpSessionOptions } from './server/session.js';
export { LmtpBackend, type BackendAnswer, type BackendFailure, type BackendFailureReason } from './server/backend.js';
