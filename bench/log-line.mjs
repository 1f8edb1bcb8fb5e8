// What one log line of a login costs postern's logger: a session's child logger writing a
// proxy_started line to a sink that drops it, with pino's own isoTime and with postern's
// timestamp (src/log/time.ts). Run after `npm run build`: node bench/log-line.mjs
import { pino } from 'pino';
import { isoTimestamp } from '../dist/src/log/time.js';

const sink = { write: () => true };
const WARMUP = 50_000;
const LINES = 300_000;
const fields = { event: 'proxy_started', user: 'user0001', backend: '127.0.0.1:17144', ms: 14, attempts: 1, source: '127.0.0.1' };
for (const [name, timestamp] of [['pino isoTime', pino.stdTimeFunctions.isoTime], ['postern isoTimestamp', isoTimestamp()], ['pino isoTime', pino.stdTimeFunctions.isoTime], ['postern isoTimestamp', isoTimestamp()]]) {
  const log = pino({ level: 'info', base: undefined, timestamp }, sink).child({ session: 'mrxa3rBEAAAAAAAB', rip: '127.0.0.1', listener: 'imap:17143' });
  for (let i = 0; i < WARMUP; i++) log.info(fields, 'started proxying');
  const t = process.hrtime.bigint();
  for (let i = 0; i < LINES; i++) log.info(fields, 'started proxying');
  console.log(`${name}: ${(Number(process.hrtime.bigint() - t) / LINES / 1000).toFixed(2)} µs a line`);
}
