import { createAuthenticator } from './authenticator.js';
import type { PassdbSpec } from './config.js';
import type { AuthDeps } from './deps.js';
import { parseFieldTemplate } from './fields.js';
import { MasterUserAuthenticator } from './master.js';
import { fieldListAbilities, mergeAbilities } from './passdb/abilities.js';
import { getPassdbDriver } from './passdb/registry.js';
import { getMechanism, mechanismAvailability, type MechanismAvailability, type SaslServerMechanism } from './sasl/index.js';
import type { Authenticator, PassdbAbilities } from './types.js';

/** The auth section's keys that build the authenticator. */
export interface AuthChainConfig {
  passdb: readonly PassdbSpec[];
  master_passdb?: readonly PassdbSpec[];
  master_user_separator?: string;
}

/** The chain a configuration describes, with master users around it when it has master passdbs. */
export function createConfiguredAuthenticator(cfg: AuthChainConfig, deps: AuthDeps = {}): Authenticator {
  const normal = createAuthenticator(cfg.passdb, deps);
  const masters = cfg.master_passdb ?? [];
  if (masters.length === 0) return normal;
  return new MasterUserAuthenticator(normal, createAuthenticator(masters, deps), cfg.master_user_separator ?? '', deps);
}

/** One configured passdb: its driver's judgement plus the password= and proxy_mech= of default_fields and override_fields. */
export function passdbAbilities(spec: PassdbSpec, deps: AuthDeps = {}): PassdbAbilities {
  const own = getPassdbDriver(spec.driver)?.abilities?.(spec, deps) ?? { schemes: [] };
  const templates = [...parseFieldTemplate(spec.default_fields, 'default_fields'), ...parseFieldTemplate(spec.override_fields, 'override_fields')];
  return mergeAbilities([own, fieldListAbilities(templates)]);
}

/**
 * Which of auth.mechanisms to offer: those the configured passdbs (master ones included) can
 * verify; the rest come back in `unverifiable`, each with the reason, for a warning at start.
 */
export function offeredMechanisms(
  names: readonly string[],
  cfg: AuthChainConfig,
  authenticator: Authenticator,
  opts: { clientCertificates: boolean },
  deps: AuthDeps = {},
): MechanismAvailability {
  const mechs = names.map((n) => getMechanism(n)).filter((m): m is SaslServerMechanism => m !== undefined);
  return mechanismAvailability(mechs, {
    passdbs: [...cfg.passdb, ...(cfg.master_passdb ?? [])].map((s) => passdbAbilities(s, deps)),
    credentialLookups: authenticator.lookupCredentials !== undefined,
    userLookups: authenticator.lookupUser !== undefined,
    clientCertificates: opts.clientCertificates,
  });
}
