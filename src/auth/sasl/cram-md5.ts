import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { safeEqual } from '../schemes/bytes.js';
import { cramMd5Digest, decodeCramMd5 } from '../schemes/cram-md5.js';
import type { SaslIdentity, SaslServerMechanism, SaslStartContext } from './types.js';

/** Dovecot's get_cram_challenge: `<random.random@hostname>` (RFC 2195 §2 asks for a msg-id). */
function challenge(ctx: SaslStartContext): string {
  if (ctx.challenge) return ctx.challenge();
  const r = randomBytes(16);
  return `<${r.readBigUInt64BE(0)}.${r.readBigUInt64BE(8)}@${hostname()}>`;
}

/**
 * RFC 2195: the server's challenge, then `user SP hex(HMAC-MD5(password, challenge))`.
 * The user name may hold spaces: the rightmost space ends it, as in Dovecot.
 */
export const cramMd5Mechanism: SaslServerMechanism = {
  name: 'CRAM-MD5',
  needs: { kind: 'credentials', scheme: 'CRAM-MD5' },
  flags: ['dictionary', 'active'],
  start(ctx = {}) {
    let sent: string | undefined;
    let digest: Buffer | undefined;
    return {
      next(response) {
        // Server-first: an initial response is ignored, as Dovecot does.
        if (sent === undefined) {
          sent = challenge(ctx);
          return { kind: 'challenge', data: Buffer.from(sent, 'latin1') };
        }
        if (response === null || digest !== undefined) return { kind: 'invalid', message: 'unexpected CRAM-MD5 response' };
        if (response.includes(0)) return { kind: 'invalid', message: 'NULs in response' };
        const text = response.toString('utf8');
        const space = text.lastIndexOf(' ');
        if (space <= 0) return { kind: 'invalid', message: 'missing digest' };
        const hex = text.slice(space + 1);
        if (!/^[0-9a-fA-F]{32}$/.test(hex)) return { kind: 'invalid', message: 'invalid digest' };
        digest = Buffer.from(hex, 'hex');
        const identity: SaslIdentity = { authcid: text.slice(0, space) };
        return { kind: 'lookup', identity, scheme: 'CRAM-MD5' };
      },
      credentials(stored) {
        let context: Buffer;
        try {
          context = decodeCramMd5(stored);
        } catch {
          return { kind: 'mismatch' };
        }
        const expected = cramMd5Digest(context, Buffer.from(sent ?? '', 'latin1'));
        return digest !== undefined && safeEqual(expected, digest) ? { kind: 'proven' } : { kind: 'mismatch' };
      },
    };
  },
};
