import { getScheme, splitScheme } from '../schemes/registry.js';
import type { PassdbAbilities } from '../types.js';

/*
 * What each configured passdb can verify, for offering SASL mechanisms (auth/sasl/offer.ts):
 * read from the configuration (and a passwd-file's contents) once at start, never per login.
 */

/** The canonical scheme name of a stored password (`{SSHA}...`, or bare in `dflt`). */
export function storedScheme(stored: string, dflt: string): string {
  const name = splitScheme(stored).scheme ?? dflt;
  return getScheme(name)?.name.split('.')[0] ?? name.toUpperCase();
}

/** A proxy_mech value as the offer compares it: a variable (`%{mech}`, `%m`) may be any. */
export function proxyMechValue(value: string): string {
  return value.includes('%') ? '*' : value.toUpperCase();
}

/** password= and proxy_mech= in a Dovecot field list (static args, default_fields, extra fields). */
export function fieldListAbilities(fields: ReadonlyArray<readonly [string, string]>, dfltScheme = 'PLAIN'): PassdbAbilities {
  const schemes: string[] = [];
  const proxyMechs: string[] = [];
  for (const [key, value] of fields) {
    if (key === 'password' && value !== '') schemes.push(storedScheme(value, dfltScheme));
    if (key === 'proxy_mech' && value !== '') proxyMechs.push(proxyMechValue(value));
  }
  return { schemes, proxyMechs };
}

export function mergeAbilities(list: readonly PassdbAbilities[]): PassdbAbilities {
  return {
    schemes: [...new Set(list.flatMap((a) => a.schemes))],
    tokens: list.some((a) => a.tokens === true),
    proxyMechs: [...new Set(list.flatMap((a) => a.proxyMechs ?? []))],
  };
}
