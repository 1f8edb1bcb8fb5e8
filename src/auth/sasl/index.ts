import { cramMd5Mechanism } from './cram-md5.js';
import { externalMechanism } from './external.js';
import { loginMechanism } from './login.js';
import { oauthbearerMechanism, xoauth2Mechanism } from './oauth.js';
import { plainMechanism } from './plain.js';
import { scramSha1Mechanism, scramSha256Mechanism } from './scram.js';
import type { SaslServerMechanism } from './types.js';

export type { SaslIdentity, SaslMechFlag, SaslNeed, SaslServerExchange, SaslServerMechanism, SaslStartContext, SaslStep } from './types.js';
export { plainClientResponse, parsePlain } from './plain.js';
export { oauthbearerClientResponse, oauthErrorAcknowledgement, xoauth2ClientResponse } from './oauth.js';
export { SaslServer, type SaslOutcome, type SaslRequestBase } from './server.js';
export { mechanismAvailability, usableMechanisms, type AuthAbilities, type MechanismAvailability } from './offer.js';

/** Adding a mechanism: a new file exporting a SaslServerMechanism, and one line here. */
const MECHANISMS: ReadonlyMap<string, SaslServerMechanism> = new Map(
  [plainMechanism, loginMechanism, cramMd5Mechanism, scramSha1Mechanism, scramSha256Mechanism, xoauth2Mechanism, oauthbearerMechanism, externalMechanism].map((m) => [m.name, m]),
);

export function getMechanism(name: string): SaslServerMechanism | undefined {
  return MECHANISMS.get(name.toUpperCase());
}

export function listMechanisms(): string[] {
  return [...MECHANISMS.keys()];
}

/** Sends a reusable secret in the clear (a password or a bearer token): refused before TLS while disable_plaintext_auth is on. */
export function isPlaintextMechanism(m: SaslServerMechanism): boolean {
  return m.flags.includes('plaintext');
}

/** Decodes a base64 SASL response; `=` is an empty response (RFC 4959). Null when malformed. */
export function decodeSaslResponse(text: string): Buffer | null {
  if (text === '=') return Buffer.alloc(0);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  return Buffer.from(text, 'base64');
}
