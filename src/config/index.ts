export { configSchema, type Config, type ConfigInput } from './schema.js';
export { loadConfig, parseConfigText, validateConfig, configPath, type LoadedConfig } from './loader.js';
export { ConfigError, type ConfigProblem } from './errors.js';
export { duration, size, parseDurationMs, parseSizeBytes } from '../core/index.js';
export { maskSecrets } from './mask.js';
