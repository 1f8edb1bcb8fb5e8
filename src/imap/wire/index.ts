// IMAP wire codec: no I/O. The same code serves the client front and the backend login.
export { DEFAULT_IMAP_RESPONSE_LIMITS, DEFAULT_IMAP_WIRE_LIMITS, type ImapResponseLimits, type ImapWireLimits } from './limits.js';
export { asAString, asAtom, asNString, asString, type ImapCommand, type ImapValue } from './values.js';
export type { ImapReadErrorCode } from './command-parser.js';
export { ImapCommandReader, type ReadError, type ReadResult } from './command-reader.js';
export {
  ImapResponseReader, parseResponse,
  type ImapResponse, type ImapStatus, type ResponseReadError, type ResponseReadResult,
} from './response-reader.js';
export { capabilityText, hasCapability, parseCapabilities } from './capability.js';
export {
  encodeAString, encodeString, formatCommand, formatCommandParts, formatIdList, quoted,
  type AStringEncoding, type LiteralMode, type WireArg,
} from './serialize.js';
export { ImapWireError } from './errors.js';
