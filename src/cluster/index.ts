export { fdLimitWarning, processConfigSchema, workerCount, type ProcessConfig } from './config.js';
export { Primary, type PrimaryOptions } from './primary.js';
export { serveProcess, type ServeOptions, type WorkerQuestion } from './worker.js';
