import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import { LineBatch } from './line-batch.js';

export type { Logger } from 'pino';

export interface LogOptions {
  format: 'json' | 'text';
  level: string;
}

/**
 * JSON lines by default (greppable, machine-readable); `text` for a person at a terminal.
 * Secrets never reach here as strings: they travel as `Secret`, whose toJSON() is `***`.
 */
export function createLogger(opts: LogOptions, destination: NodeJS.WritableStream = process.stdout): Logger {
  const base = { level: opts.level, base: undefined, timestamp: pino.stdTimeFunctions.isoTime };
  if (opts.format === 'text') {
    // Loaded only for `log.format: text`.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    return pino(base, pretty({ destination, sync: true, colorize: false, singleLine: true, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  if (destination === process.stdout) return pino(base, new LineBatch(pino.destination({ dest: 1, sync: false }), { writeSync: writeAllSync }));
  return pino(base, destination);
}

/** Standard output, synchronously and whole, for the last lines at exit; a descriptor that refuses them again and again loses them. */
function writeAllSync(data: string): void {
  let buf = Buffer.from(data);
  for (let tries = 0; buf.length > 0 && tries < 100; tries++) {
    try {
      buf = buf.subarray(writeSync(1, buf));
    } catch (err) {
      // EAGAIN on a non-blocking pipe: the reader may catch up. Anything else (EPIPE): nobody reads.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
