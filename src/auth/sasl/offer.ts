import { getScheme } from '../schemes/registry.js';
import type { PassdbAbilities } from '../types.js';
import type { SaslServerMechanism } from './types.js';

/** What the configured authentication can do, for deciding which mechanisms to offer. */
export interface AuthAbilities {
  /** Every configured passdb, the master passdbs included. */
  passdbs: readonly PassdbAbilities[];
  /** The authenticator implements lookupCredentials / lookupUser. */
  credentialLookups: boolean;
  userLookups: boolean;
  /** Some listener verifies TLS client certificates (tls.client_ca). */
  clientCertificates: boolean;
}

export interface MechanismAvailability {
  /** The allowed mechanisms something can verify, in the configured order. */
  offered: string[];
  /** The allowed ones nothing can verify, and why: a configuration warning each. */
  unverifiable: Array<{ mech: string; why: string }>;
}

const base = (scheme: string) => getScheme(scheme)?.name.split('.')[0] ?? scheme.toUpperCase();

/** Why nothing configured can verify `m`, or undefined when something can. */
function whyNot(m: SaslServerMechanism, a: AuthAbilities): string | undefined {
  const need = m.needs;
  switch (need.kind) {
    case 'plaintext':
      return a.passdbs.length > 0 ? undefined : 'no passdb is configured';
    case 'credentials': {
      if (!a.credentialLookups) return 'the authenticator cannot look credentials up';
      const want = base(need.scheme);
      const have = new Set(a.passdbs.flatMap((p) => p.schemes.map(base)));
      if (have.has('PLAIN') || have.has(want)) return undefined;
      const found = have.size > 0 ? ` (they hold ${[...have].sort().join(', ')})` : '';
      return `no passdb stores plaintext or ${want} passwords${found}`;
    }
    case 'token':
      if (a.passdbs.some((p) => p.tokens === true || p.proxyMechs?.some((x) => x === '*' || x.toUpperCase() === m.name))) return undefined;
      return `tokens need an oauth2 passdb, or a passdb that forwards them (proxy=y proxy_mech=${m.name.toLowerCase()})`;
    case 'certificate':
      if (!a.clientCertificates) return 'no listener verifies client certificates (tls.client_ca)';
      return a.userLookups ? undefined : 'the authenticator cannot look users up';
    default: {
      const never: never = need;
      throw new Error(`unknown mechanism need ${JSON.stringify(never)}`);
    }
  }
}

/** Dovecot offers every auth_mechanisms entry; postern only those the passdbs can verify. */
export function mechanismAvailability(allowed: readonly SaslServerMechanism[], a: AuthAbilities): MechanismAvailability {
  const offered: string[] = [];
  const unverifiable: MechanismAvailability['unverifiable'] = [];
  for (const m of allowed) {
    const why = whyNot(m, a);
    if (why === undefined) offered.push(m.name);
    else unverifiable.push({ mech: m.name, why });
  }
  return { offered, unverifiable };
}

/**
 * The mechanisms one connection may use now: no password or token before TLS while
 * disable_plaintext_auth is on (Dovecot's sasl_server_get_advertised_mechs), and EXTERNAL
 * only with a verified client certificate (never advertise what cannot be served).
 */
export function usableMechanisms(offered: readonly SaslServerMechanism[], conn: { plaintextAllowed: boolean; certUsername?: string | undefined }): SaslServerMechanism[] {
  return offered.filter((m) => (conn.plaintextAllowed || !m.flags.includes('plaintext')) && (m.needs.kind !== 'certificate' || conn.certUsername !== undefined));
}
