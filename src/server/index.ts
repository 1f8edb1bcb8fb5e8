export { startServer, type RunningServer, type ReloadResult, type StartOptions } from './server.js';
export { prepareServer, type Prepared } from './prepare.js';
