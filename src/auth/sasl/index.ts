import { loginMechanism } from './login.js';
import { plainMechanism } from './plain.js';
import type { SaslServerMechanism } from './types.js';

export type { SaslCredentials, SaslServerExchange, SaslServerMechanism, SaslStep } from './types.js';
export { plainClientResponse, parsePlain } from './plain.js';

const MECHANISMS: ReadonlyMap<string, SaslServerMechanism> = new Map(
  [plainMechanism, loginMechanism].map((m) => [m.name, m]),
);

export function getMechanism(name: string): SaslServerMechanism | undefined {
  return MECHANISMS.get(name.toUpperCase());
}

export function listMechanisms(): string[] {
  return [...MECHANISMS.keys()];
}

/** Decodes a base64 SASL response; `=` is an empty response (RFC 4959). Null when malformed. */
export function decodeSaslResponse(text: string): Buffer | null {
  if (text === '=') return Buffer.alloc(0);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(text) || text.length % 4 !== 0) return null;
  return Buffer.from(text, 'base64');
}
