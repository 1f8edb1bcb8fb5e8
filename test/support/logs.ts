import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/log/index.js';

export type LogRecord = Record<string, unknown>;

export interface CapturedLogs {
  log: Logger;
  records: LogRecord[];
  raw(): string;
  waitFor(pred: (r: LogRecord) => boolean, timeoutMs?: number): Promise<LogRecord>;
}

/** A debug-level JSON logger whose lines are kept, raw and parsed, for tests that assert on logs. */
export function captureLogs(waitMs = 3000): CapturedLogs {
  let raw = '';
  const records: LogRecord[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, cb) {
      const text = chunk.toString('utf8');
      raw += text;
      for (const line of text.split('\n')) if (line.trim()) records.push(JSON.parse(line) as LogRecord);
      cb();
    },
  });
  return {
    log: createLogger({ format: 'json', level: 'debug' }, sink),
    records,
    raw: () => raw,
    async waitFor(pred, timeoutMs = waitMs) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hit = records.find(pred);
        if (hit) return hit;
        if (Date.now() > until) throw new Error(`no such log line in:\n${raw}`);
        await new Promise((r) => setTimeout(r, 5));
      }
    },
  };
}
