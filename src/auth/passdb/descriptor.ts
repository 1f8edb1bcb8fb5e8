import type { PassdbSpec } from '../config.js';
import type { AuthDeps } from '../deps.js';
import type { Passdb, PassdbAbilities } from '../types.js';

/** A passdb driver as the registry holds it. `create` throws AuthError on bad args. */
export interface PassdbDriver {
  readonly driver: string;
  /** One line for the configuration reference. */
  readonly description: string;
  create(spec: PassdbSpec, deps: AuthDeps): Passdb;
  /** What it can verify beyond plaintext passwords, judged from the spec (see abilities.ts); absent: nothing more. */
  abilities?(spec: PassdbSpec, deps: AuthDeps): PassdbAbilities;
}

/**
 * The label used in logs: the spec's name, else the driver plus `detail`. Never the
 * raw args: static args may hold `password=`.
 */
export function passdbLabel(spec: PassdbSpec, detail?: string): string {
  return spec.name ?? (detail ? `${spec.driver} ${detail}` : spec.driver);
}
