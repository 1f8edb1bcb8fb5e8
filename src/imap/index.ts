export { ImapLoginSession, type ImapFrontDeps } from './front/session.js';
export { ImapBackendLogin, type ImapBackendLoginOptions, type ImapForwardInfo } from './backend-login.js';
export { imapConfigSchema, type ImapConfig } from './config.js';
export { imapFailureResult, imapPassdbDriver, parseImapPassdbArgs, type ImapPassdbArgs } from './passdb.js';
