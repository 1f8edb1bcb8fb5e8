export { startServer, type RunningServer, type ReloadResult, type StartOptions } from './server.js';
export { checkServer, prepareServer, type Prepared } from './prepare.js';
