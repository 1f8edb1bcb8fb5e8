import { writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { pino, type Logger } from 'pino';
import type PinoPretty from 'pino-pretty';
import { LineBatch } from './line-batch.js';
import { isoTimestamp } from './time.js';

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
  const base = { level: opts.level, base: undefined, timestamp: isoTimestamp() };
  if (opts.format === 'text') {
    // Loaded only for `log.format: text`.
    const pretty = createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
    return pino(base, pretty({ destination, sync: true, colorize: false, singleLine: true, translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l', ignore: 'pid,hostname' }));
  }
  if (destination === process.stdout) return pino(base, new LineBatch(pino.destination({ dest: 1, sync: false }), { writeSync: writeAllSync }));
  return pino(base, destination);
}

/** How long the last lines at exit wait for a full pipe's reader before they are given up. */
const EXIT_WRITE_WAIT_MS = 2000;
const pause = new Int32Array(new SharedArrayBuffer(4));

/**
 * Standard output, synchronously and whole, for the last lines at exit. A full pipe (EAGAIN) is
 * retried every millisecond for up to EXIT_WRITE_WAIT_MS; a descriptor nobody reads (EPIPE) loses them.
 */
function writeAllSync(data: string): void {
  let buf = Buffer.from(data);
  const deadline = Date.now() + EXIT_WRITE_WAIT_MS;
  while (buf.length > 0) {
    try {
      buf = buf.subarray(writeSync(1, buf));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN' || Date.now() >= deadline) return;
      Atomics.wait(pause, 0, 0, 1);
    }
  }
}

/** A logger that drops everything, for tests and library use. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
