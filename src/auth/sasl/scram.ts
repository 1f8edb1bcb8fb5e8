import { createHash, createHmac, randomBytes } from 'node:crypto';
import { decodeBase64, safeEqual } from '../schemes/bytes.js';
import { parseScram, type ScramCredentials, type ScramHash } from '../schemes/scram.js';
import { parseGs2Header, unescapeSaslname } from './gs2.js';
import type { SaslIdentity, SaslServerMechanism, SaslStartContext, SaslStep } from './types.js';

/** Server nonce: 24 random bytes, base64 (printable, no ','): RFC 5802 §5.1 asks only for printable. */
const SERVER_NONCE_BYTES = 24;
const DIGEST_LEN: Record<ScramHash, number> = { sha1: 20, sha256: 32 };

/** Strict UTF-8 text, or null (RFC 5802 §5: messages are UTF-8). */
function utf8(data: Buffer): string | null {
  const text = data.toString('utf8');
  return Buffer.from(text, 'utf8').equals(data) ? text : null;
}

interface ClientFirst {
  identity: SaslIdentity;
  gs2: string;
  bare: string;
  cnonce: string;
}

/** client-first-message = gs2-header [reserved-mext ","] username "," nonce ["," extensions] */
function parseClientFirst(text: string): ClientFirst | { error: string } {
  const gs2 = parseGs2Header(text);
  if ('error' in gs2) return gs2;
  // We advertise no -PLUS variant: a client that wants channel binding must not get in without it.
  if (gs2.cbind.kind === 'p') return { error: 'channel binding not supported' };
  const bare = text.slice(gs2.end);
  const fields = bare.split(',');
  const [user, nonce] = fields;
  if (user === undefined || nonce === undefined) return { error: 'missing nonce field' };
  if (user.startsWith('m=')) return { error: 'mandatory extension(s) not supported' };
  if (!user.startsWith('n=')) return { error: 'invalid username field' };
  const authcid = unescapeSaslname(user.slice(2));
  if (authcid === null || authcid === '') return { error: 'invalid username escaping' };
  if (!nonce.startsWith('r=') || !/^[\x21-\x2b\x2d-\x7e]+$/.test(nonce.slice(2))) return { error: 'invalid client nonce' };
  const identity = { authcid, ...(gs2.authzid !== undefined && gs2.authzid !== authcid ? { authzid: gs2.authzid } : {}) };
  return { identity, gs2: gs2.raw, bare, cnonce: nonce.slice(2) };
}

type State =
  | { kind: 'start' }
  | { kind: 'lookup'; first: ClientFirst }
  | { kind: 'final'; first: ClientFirst; serverFirst: string; nonce: string; creds: ScramCredentials }
  | { kind: 'done' };

/** RFC 5802 (SCRAM-SHA-1) and RFC 7677 (SCRAM-SHA-256), without channel binding, as Dovecot's mech-scram. */
function scramMechanism(name: string, hash: ScramHash): SaslServerMechanism {
  const hmac = (key: Buffer, text: string) => createHmac(hash, key).update(text, 'utf8').digest();

  const final = (st: Extract<State, { kind: 'final' }>, text: string): SaslStep => {
    // client-final-message = channel-binding "," nonce ["," extensions] "," proof
    const fields = text.split(',');
    if (fields.length < 3) return { kind: 'invalid', message: 'invalid final client message' };
    if (fields[0] !== `c=${Buffer.from(st.first.gs2, 'utf8').toString('base64')}`) return { kind: 'invalid', message: 'invalid channel binding data' };
    if (fields[1] !== `r=${st.nonce}`) return { kind: 'invalid', message: 'wrong nonce' };
    const proofField = fields.at(-1)!;
    const proof = proofField.startsWith('p=') ? decodeBase64(proofField.slice(2)) : undefined;
    if (proof?.length !== DIGEST_LEN[hash]) return { kind: 'invalid', message: 'invalid ClientProof' };
    // AuthMessage = client-first-message-bare "," server-first-message "," client-final-message-without-proof
    const authMessage = `${st.first.bare},${st.serverFirst},${fields.slice(0, -1).join(',')}`;
    const signature = hmac(st.creds.storedKey, authMessage);
    const clientKey = Buffer.alloc(signature.length);
    for (let i = 0; i < signature.length; i++) clientKey[i] = proof[i]! ^ signature[i]!;
    if (!safeEqual(createHash(hash).update(clientKey).digest(), st.creds.storedKey)) return { kind: 'mismatch' };
    return { kind: 'proven', data: Buffer.from(`v=${hmac(st.creds.serverKey, authMessage).toString('base64')}`, 'utf8') };
  };

  return {
    name,
    needs: { kind: 'credentials', scheme: name },
    flags: ['mutual-auth'],
    start(ctx: SaslStartContext = {}) {
      let st: State = { kind: 'start' };
      return {
        next(response) {
          const cur = st;
          if (cur.kind === 'start' && response === null) return { kind: 'challenge', data: Buffer.alloc(0) };
          const text = response === null ? null : utf8(response);
          if (text === null) return { kind: 'invalid', message: 'missing or non-UTF-8 SCRAM message' };
          switch (cur.kind) {
            case 'start': {
              const first = parseClientFirst(text);
              if ('error' in first) return { kind: 'invalid', message: first.error };
              st = { kind: 'lookup', first };
              return { kind: 'lookup', identity: first.identity, scheme: name };
            }
            case 'final':
              st = { kind: 'done' };
              return final(cur, text);
            case 'lookup':
            case 'done':
              return { kind: 'invalid', message: 'unexpected SCRAM message' };
          }
        },
        credentials(stored) {
          if (st.kind !== 'lookup') return { kind: 'invalid', message: 'unexpected credentials' };
          let creds: ScramCredentials;
          try {
            creds = parseScram(hash, stored);
          } catch {
            return { kind: 'mismatch' };
          }
          const nonce = st.first.cnonce + (ctx.challenge?.() ?? randomBytes(SERVER_NONCE_BYTES).toString('base64'));
          const serverFirst = `r=${nonce},s=${creds.salt.toString('base64')},i=${creds.iterations}`;
          st = { kind: 'final', first: st.first, serverFirst, nonce, creds };
          return { kind: 'challenge', data: Buffer.from(serverFirst, 'utf8') };
        },
      };
    },
  };
}

export const scramSha1Mechanism = scramMechanism('SCRAM-SHA-1', 'sha1');
export const scramSha256Mechanism = scramMechanism('SCRAM-SHA-256', 'sha256');
