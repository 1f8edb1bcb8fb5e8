import type { SaslServerMechanism } from './types.js';

/**
 * RFC 4422 Appendix A: the identity was established outside SASL, here by a TLS client
 * certificate the listener verified (tls.client_ca). The client's message is an optional
 * authorization identity: another user to act as, which makes it a master-user login.
 */
export const externalMechanism: SaslServerMechanism = {
  name: 'EXTERNAL',
  needs: { kind: 'certificate' },
  flags: [],
  start(ctx = {}) {
    let asked = false;
    let done = false;
    return {
      next(response) {
        if (done) return { kind: 'invalid', message: 'unexpected EXTERNAL message' };
        if (response === null) {
          if (asked) return { kind: 'invalid', message: 'missing EXTERNAL response' };
          asked = true;
          return { kind: 'challenge', data: Buffer.alloc(0) };
        }
        done = true;
        const authcid = ctx.certUsername;
        if (authcid === undefined || authcid === '') return { kind: 'invalid', message: 'no verified client certificate with a user name' };
        const authzid = response.toString('utf8');
        if (authzid.includes('\0')) return { kind: 'invalid', message: 'NUL in authorization identity' };
        return { kind: 'certificate', identity: { authcid, ...(authzid !== '' && authzid !== authcid ? { authzid } : {}) } };
      },
    };
  },
};
