import { Writable } from 'node:stream';
import { validateConfig, type ConfigInput } from '../../src/config/index.js';
import { createLogger } from '../../src/log/index.js';
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
  const logs: LogRecord[] = [];
  let raw = '';
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8');
      raw += text;
      for (const line of text.split('\n')) if (line.trim()) logs.push(JSON.parse(line) as LogRecord);
      cb();
    },
  });
  const loaded = { file: '<test>', baseDir, config: validateConfig(config, '<test>') };
  const log = createLogger({ format: 'json', level: 'debug' }, sink);
  const server = await startServer(loaded, log);
  return {
    server,
    port: (n) => server.listeners[n]!.address.port,
    logs,
    rawLog: () => raw,
    async waitForLog(pred, timeoutMs = 5000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hit = logs.find(pred);
        if (hit) return hit;
        if (Date.now() > until) throw new Error(`no matching log line within ${timeoutMs} ms; have:\n${raw}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    },
    close: () => server.close(),
  };
}
