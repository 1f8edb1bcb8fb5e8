export { Pop3LoginSession, type Pop3FrontDeps } from './front/session.js';
export { Pop3BackendLogin, type Pop3BackendLoginOptions, type Pop3ForwardInfo } from './backend-login.js';
export { pop3ConfigSchema, type Pop3Config } from './config.js';
