import type { AuthRequest, Authenticator, WholeAuthRequest } from '../auth/index.js';
import { upperCase, type Secret } from '../core/index.js';
import { getMechanism, isPlaintextMechanism, SaslServer, usableMechanisms, type SaslRequestBase, type SaslServerMechanism } from '../auth/sasl/index.js';
import type { NetworkList } from '../net/index.js';
import type { FrontConnection } from './front-connection.js';
import { connectionSecured, plaintextAllowed, type PlaintextPolicy } from './plaintext.js';

export type SaslStart = { kind: 'started'; sasl: SaslServer } | { kind: 'unsupported' } | { kind: 'plaintextDisallowed' };

/**
 * The protocol-free half of IMAP AUTHENTICATE and POP3 AUTH: which of the offered
 * mechanisms a connection may use now, the request every login starts from, and the
 * SaslServer that runs an exchange against the chain. The fronts add only framing.
 */
export class FrontSasl {
  readonly #offered: readonly SaslServerMechanism[];
  readonly #policy: PlaintextPolicy;

  /** `offered`: auth.mechanisms that the configured passdbs can verify (see auth/sasl/offer.ts). */
  constructor(offered: readonly string[], policy: PlaintextPolicy) {
    this.#offered = offered.map((n) => getMechanism(n)).filter((m): m is SaslServerMechanism => m !== undefined);
    this.#policy = policy;
  }

  /** Mechanism names to advertise on this connection now. */
  usable(front: FrontConnection): string[] {
    return usableMechanisms(this.#offered, { plaintextAllowed: plaintextAllowed(front.conn, this.#policy), certUsername: front.conn.certUsername }).map((m) => m.name);
  }

  start(name: string, front: FrontConnection, authenticator: Authenticator, base: SaslRequestBase): SaslStart {
    const upper = upperCase(name);
    const mech = this.#offered.find((m) => m.name === upper);
    if (!mech) return { kind: 'unsupported' };
    if (isPlaintextMechanism(mech) && !plaintextAllowed(front.conn, this.#policy)) return { kind: 'plaintextDisallowed' };
    const certUsername = front.conn.certUsername;
    return { kind: 'started', sasl: new SaslServer(mech, authenticator, base, certUsername !== undefined ? { certUsername } : {}) };
  }
}

/** Who the client is and how it came: the AuthRequest of a login before the mechanism fills it in. */
export function loginRequestBase(front: FrontConnection, service: string, trustedNetworks: NetworkList): SaslRequestBase {
  return loginRequest(front, service, trustedNetworks, '', '', undefined);
}

/**
 * The AuthRequest of a LOGIN or USER/PASS: one literal of one shape, the fields in SaslServer's order
 * (a spread of the base and the credentials made a new shape at every login, each a miss of V8's
 * property caches).
 */
export function loginRequest(front: FrontConnection, service: string, trustedNetworks: NetworkList, mech: string, user: string, password: Secret | undefined): AuthRequest {
  const conn = front.conn;
  return {
    service,
    mech,
    user,
    password,
    authzid: undefined,
    remoteIp: front.identity.ip,
    remotePort: front.identity.port,
    localIp: conn.localIp,
    localPort: conn.localPort,
    secured: connectionSecured(conn, trustedNetworks),
    session: front.id,
    // Dovecot's no-penalty: a trusted peer (webmail) is never held by the failure penalty.
    noPenalty: trustedNetworks.has(conn.remoteIp),
  } satisfies WholeAuthRequest;
}
