export { LoginService, type LoginServiceOptions } from './login.js';
export type { LoginOutcome, ProtocolLogin } from './types.js';
export { newSessionId } from './session-id.js';
export { FrontConnection, type FrontConnectionOptions, type FrontInput } from './front-connection.js';
export { ClientIdentity, type ForwardedFields } from './client-identity.js';
export { connectionSecured, plaintextAllowed, type PlaintextPolicy } from './plaintext.js';
export { FrontSasl, loginRequest, loginRequestBase, type SaslStart } from './sasl-front.js';
export { SessionRegistry, sessionMatcher, type EndReason, type SessionFilter, type SessionInfo, type TrackedSession } from './registry.js';
export { admitted, type AdmissionDeps } from './admission.js';
