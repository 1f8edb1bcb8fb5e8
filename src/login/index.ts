export { LoginService, type LoginServiceOptions } from './login.js';
export type { LoginOutcome, ProtocolLogin } from './types.js';
export { newSessionId } from './session-id.js';
