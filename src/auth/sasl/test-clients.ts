// Test support (not exported from index.ts): the client halves of CRAM-MD5 and SCRAM, to drive
// the server mechanisms through whole exchanges. RFC 5802 §3 in a dozen lines.
import { createHash, createHmac, pbkdf2Sync } from 'node:crypto';
import { ChainAuthenticator } from '../authenticator.js';
import { MasterUserAuthenticator } from '../master.js';
import { MemoryPassdb } from '../memory.js';
import type { Authenticator } from '../types.js';

export function cramMd5Response(user: string, password: string, challenge: Buffer): Buffer {
  return Buffer.from(`${user} ${createHmac('md5', password).update(challenge).digest('hex')}`, 'utf8');
}

export interface ScramClient {
  first(): Buffer;
  /** The client-final message for the server-first one. */
  final(serverFirst: Buffer): Buffer;
  /** The ServerSignature the server must send back (v=...). */
  expectedVerifier(): string;
}

export function scramClient(hash: 'sha1' | 'sha256', user: string, password: string, cnonce: string, authzid = ''): ScramClient {
  const gs2 = `n,${authzid ? `a=${authzid}` : ''},`;
  const bare = `n=${user.replace(/=/g, '=3D').replace(/,/g, '=2C')},r=${cnonce}`;
  let authMessage = '';
  let salted = Buffer.alloc(0);
  return {
    first: () => Buffer.from(gs2 + bare),
    final(serverFirst) {
      const sf = serverFirst.toString();
      const attrs = Object.fromEntries(sf.split(',').map((kv) => [kv[0], kv.slice(2)]));
      salted = pbkdf2Sync(password, Buffer.from(attrs['s']!, 'base64'), Number(attrs['i']), hash === 'sha1' ? 20 : 32, hash);
      const withoutProof = `c=${Buffer.from(gs2).toString('base64')},r=${attrs['r']}`;
      authMessage = `${bare},${sf},${withoutProof}`;
      const clientKey = createHmac(hash, salted).update('Client Key').digest();
      const signature = createHmac(hash, createHash(hash).update(clientKey).digest()).update(authMessage).digest();
      const proof = Buffer.from(clientKey.map((b, i) => b ^ signature[i]!));
      return Buffer.from(`${withoutProof},p=${proof.toString('base64')}`);
    },
    expectedVerifier() {
      const serverKey = createHmac(hash, salted).update('Server Key').digest();
      return `v=${createHmac(hash, serverKey).update(authMessage).digest('base64')}`;
    },
  };
}

/**
 * The users the IMAP and POP3 SASL front tests log in as: bob checked here, alice proxied to
 * `backendPort`, carol proxied with a token (XOAUTH2, nopassword), and admin a master user
 * (`user*admin` or an authorization identity).
 */
export function saslTestAuthenticator(backendPort: number): Authenticator {
  const proxied = { proxy: 'y', host: '127.0.0.1', port: String(backendPort) };
  const normal = new ChainAuthenticator([
    {
      passdb: new MemoryPassdb({
        bob: { password: 'bob-pw' },
        alice: { password: 'alice-pw', fields: proxied },
        carol: { password: null, fields: { ...proxied, nopassword: 'y', proxy_mech: 'xoauth2' } },
      }),
    },
  ]);
  return new MasterUserAuthenticator(normal, new ChainAuthenticator([{ passdb: new MemoryPassdb({ admin: { password: 'admin-pw' } }) }]), '*');
}
