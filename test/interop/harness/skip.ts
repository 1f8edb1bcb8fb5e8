// Missing peers: a suite prints one `SKIP: <why>` line and skips (CI installs every peer, so CI never skips).
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

// Daemons live in sbin, which a non-root PATH often lacks.
const EXTRA_DIRS = ['/usr/sbin', '/sbin', '/usr/local/sbin'];

/** Absolute path of an executable on PATH (or in sbin), or undefined. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(process.env['PATH'] ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const dir of dirs) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A skip reason if any binary is missing, else undefined. */
export function requireBinary(...names: string[]): string | undefined {
  const missing = names.filter((n) => findBinary(n) === undefined);
  return missing.length === 0 ? undefined : `${missing.join(', ')} not installed`;
}

const announced = new Set<string>();

/**
 * Prints `SKIP: <suite>: <reason>` once and returns the reason, for node:test's `{ skip }`:
 *   describe('imap proxy', { skip: skipSuite('imap proxy', requireBinary('dovecot')) }, ...)
 * Returns false when there is nothing to skip.
 */
export function skipSuite(suite: string, ...reasons: (string | undefined)[]): string | false {
  const reason = reasons.filter((r): r is string => r !== undefined).join('; ');
  if (reason === '') return false;
  const line = `SKIP: ${suite}: ${reason}`;
  if (!announced.has(line)) {
    announced.add(line);
    console.log(line);
  }
  return reason;
}
