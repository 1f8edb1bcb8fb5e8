import type { PassdbSpec } from '../config.js';
import type { AuthDeps } from '../deps.js';
import { AuthError } from '../errors.js';
import type { Passdb } from '../types.js';
import type { PassdbDriver } from './descriptor.js';
import { ldapDriver } from './ldap.js';
import { passwdFileDriver } from './passwd-file.js';
import { sqlDriver } from './sql.js';
import { staticDriver } from './static.js';
import { withFields } from './with-fields.js';

/** Adding a driver: a new file exporting a PassdbDriver, and one line here. */
const DRIVERS: readonly PassdbDriver[] = [staticDriver, passwdFileDriver, ldapDriver, sqlDriver];

const byName = new Map(DRIVERS.map((d) => [d.driver, d]));

export function listPassdbDrivers(): string[] {
  return [...byName.keys()];
}

export function getPassdbDriver(name: string): PassdbDriver | undefined {
  return byName.get(name);
}

/** One configured passdb: the driver, wrapped in default_fields and override_fields. */
export function createPassdb(spec: PassdbSpec, deps: AuthDeps): Passdb {
  const driver = byName.get(spec.driver);
  if (!driver) throw new AuthError('AUTH_CONFIG', `unknown passdb driver ${JSON.stringify(spec.driver)}`);
  return withFields(driver.create(spec, deps), spec);
}
