import { registerPassdbDriver } from './auth/index.js';
import { imapPassdbDriver } from './imap/index.js';

/**
 * Passdb drivers that live outside auth/ because they speak a protocol auth/ must not
 * know (the imap passdb logs in over IMAP). The composition root registers them before
 * a configuration is read: server.ts when it loads, the CLI when it starts. Idempotent.
 */
export function registerPassdbDrivers(): void {
  registerPassdbDriver(imapPassdbDriver);
}
