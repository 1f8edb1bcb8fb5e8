// Dovecot's auth-client protocol for MTAs (Postfix, Exim): see docs/auth-service.md.
export { AuthService, type AuthServiceOptions } from './service.js';
export {
  LineFramer,
  contLine,
  failLine,
  handshakeText,
  okLine,
  parseClientLine,
  tabEscape,
  tabUnescape,
  type AuthParams,
  type ClientCommand,
  type ParsedLine,
} from './codec.js';
export { MAX_LINE_BYTES, PROTOCOL_MAJOR, PROTOCOL_MINOR } from './limits.js';
