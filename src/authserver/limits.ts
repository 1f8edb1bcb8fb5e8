/** Limits of the auth-client protocol server, each with its unit. */

/** Dovecot's AUTH_CLIENT_MAX_LINE_LENGTH: a longer line closes the connection. */
export const MAX_LINE_BYTES = 16384;

/** Requests in flight on one connection (Postfix and Exim use one at a time). */
export const MAX_REQUESTS_PER_CONNECTION = 1024;

/** A request waiting for the client's CONT is dropped after this (Dovecot: 3 min). */
export const REQUEST_TIMEOUT_MS = 3 * 60_000;

/** The protocol version we speak: 1.2 is Dovecot 2.3, whose immediate handshake Exim needs. */
export const PROTOCOL_MAJOR = 1;
export const PROTOCOL_MINOR = 2;
