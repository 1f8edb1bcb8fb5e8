import { validateConfig, type ConfigInput } from '../../src/config/index.js';
import { captureLogs } from './logs.js';
import { startServer, type RunningServer } from '../../src/server.js';

export interface LogRecord {
  level: number;
  event?: string;
  msg?: string;
  [key: string]: unknown;
}

export interface TestPostern {
  server: RunningServer;
  /** Port of the n-th listener in the configuration. */
  port(n: number): number;
  logs: LogRecord[];
  /** Every log line as written, to search for secrets. */
  rawLog(): string;
  waitForLog(pred: (r: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
  close(): Promise<void>;
}

/** Starts postern in this process from a config object; listeners should use port 0. */
export async function startPostern(config: ConfigInput, baseDir = process.cwd()): Promise<TestPostern> {
  const captured = captureLogs(5000);
  const loaded = { file: '<test>', baseDir, config: validateConfig(config, '<test>') };
  const server = await startServer(loaded, captured.log);
  return {
    server,
    port: (n) => server.listeners[n]!.address.port,
    logs: captured.records as LogRecord[],
    rawLog: () => captured.raw(),
    waitForLog: (pred, timeoutMs) => captured.waitFor(pred as (r: Record<string, unknown>) => boolean, timeoutMs) as Promise<LogRecord>,
    close: () => server.close(),
  };
}
