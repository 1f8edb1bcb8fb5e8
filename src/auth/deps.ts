import type { AuthCache } from './cache.js';

/** The slice of a pino logger that auth uses; a pino `Logger` satisfies it. */
export type LogFn = (obj: object, msg?: string) => void;

export interface AuthLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
  child(bindings: Record<string, unknown>): AuthLogger;
}

/** What passdb drivers and the authenticator are given from outside. */
export interface AuthDeps {
  /** The auth cache put in front of every passdb that can be cached; none when absent. */
  cache?: AuthCache;
  /** A pino logger (or anything with the same five methods); silent when absent. */
  log?: AuthLogger;
  /** Where relative passwd-file paths are resolved: the config file's directory. */
  baseDir?: string;
  /** Told of each passdb lookup that failed temporarily, with the passdb's name (metrics). */
  onPassdbError?: (passdb: string) => void;
}

const noop: LogFn = () => {};

export const silentLogger: AuthLogger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  child: () => silentLogger,
};
