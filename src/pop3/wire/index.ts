// POP3 wire codec: no I/O. The same code serves the client front and the backend login.
export { DEFAULT_POP3_RESPONSE_LIMITS, DEFAULT_POP3_WIRE_LIMITS, type Pop3ResponseLimits, type Pop3WireLimits } from './limits.js';
export { Pop3CommandReader, type Pop3Command, type Pop3ReadError, type Pop3ReadErrorCode, type Pop3ReadResult } from './command-reader.js';
export {
  Pop3ResponseReader, parsePop3Response,
  type Pop3Response, type Pop3ResponseError, type Pop3ResponseResult, type Pop3Status,
} from './response-reader.js';
