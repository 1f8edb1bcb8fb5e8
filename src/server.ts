// The composition root, for the CLI and the tests.
export * from './server/index.js';
