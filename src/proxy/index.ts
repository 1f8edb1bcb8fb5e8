export type { BackendLogin, BackendTarget, BackendTls, LoginStep, ProxyFailure, ProxyFailureKind } from './types.js';
export { resolveRoute, type Route, type RouteContext } from './route.js';
export { proxyConnect, type ConnectOptions, type ProxyOutcome } from './connect.js';
export { joinSockets, type Pipe, type PipeEnd, type PipeEndReason } from './pipe.js';
export { fieldSet } from './fields.js';
export { proxyConfigSchema, type ProxyConfig } from './config.js';
export { drainResponses, failureStep, type ResponseSource } from './login-steps.js';
export { DisconnectSpread, DISCONNECT_STEP_MS, type DisconnectSpreadOptions, type DisconnectTicket } from './disconnect-delay.js';
export { SourceIps, canBind, type SourceIpResolvers } from './source-ips.js';
