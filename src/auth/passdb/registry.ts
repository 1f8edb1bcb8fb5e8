import { withCache } from '../cached-passdb.js';
import type { PassdbSpec } from '../config.js';
import type { AuthDeps } from '../deps.js';
import { AuthError } from '../errors.js';
import type { Passdb } from '../types.js';
import type { PassdbDriver } from './descriptor.js';
import { ldapDriver } from './ldap.js';
import { oauth2Driver } from './oauth2.js';
import { passwdFileDriver } from './passwd-file.js';
import { sqlDriver } from './sql.js';
import { staticDriver } from './static.js';
import { withFields } from './with-fields.js';

/** Adding a built-in driver: a new file exporting a PassdbDriver, and one line here. */
const DRIVERS: readonly PassdbDriver[] = [staticDriver, passwdFileDriver, ldapDriver, sqlDriver, oauth2Driver];

const byName = new Map(DRIVERS.map((d) => [d.driver, d]));

/**
 * Adds a driver that lives outside auth/ (the imap passdb speaks IMAP, which auth/ must
 * not know): the composition root registers it before any configuration is read.
 * Registering the same descriptor again is a no-op; another one under a taken name throws.
 */
export function registerPassdbDriver(driver: PassdbDriver): void {
  const known = byName.get(driver.driver);
  if (known === driver) return;
  if (known !== undefined) throw new AuthError('AUTH_CONFIG', `passdb driver ${JSON.stringify(driver.driver)} is already registered`);
  byName.set(driver.driver, driver);
}

export function listPassdbDrivers(): string[] {
  return [...byName.keys()];
}

export function getPassdbDriver(name: string): PassdbDriver | undefined {
  return byName.get(name);
}

/** One configured passdb: the driver, wrapped in default_fields and override_fields, then the auth cache. */
export function createPassdb(spec: PassdbSpec, deps: AuthDeps): Passdb {
  const driver = byName.get(spec.driver);
  if (!driver) throw new AuthError('AUTH_CONFIG', `unknown passdb driver ${JSON.stringify(spec.driver)}`);
  return withCache(withFields(driver.create(spec, deps), spec), deps.cache, deps.log);
}
