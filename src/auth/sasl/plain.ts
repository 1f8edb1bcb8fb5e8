import { Secret } from '../../core/index.js';
import type { SaslServerMechanism, SaslStep } from './types.js';

/** RFC 4616: message = [authzid] NUL authcid NUL passwd. */
export function parsePlain(data: Buffer): SaslStep {
  const first = data.indexOf(0);
  const second = first < 0 ? -1 : data.indexOf(0, first + 1);
  if (first < 0 || second < 0 || data.indexOf(0, second + 1) >= 0) return { kind: 'invalid', message: 'invalid PLAIN message' };
  const authzid = data.subarray(0, first).toString('utf8');
  const authcid = data.subarray(first + 1, second).toString('utf8');
  const password = data.subarray(second + 1).toString('utf8');
  if (authcid === '') return { kind: 'invalid', message: 'empty user name' };
  const identity = { authcid, ...(authzid !== '' && authzid !== authcid ? { authzid } : {}) };
  return { kind: 'verify', identity, secret: new Secret(password) };
}

export const plainMechanism: SaslServerMechanism = {
  name: 'PLAIN',
  needs: { kind: 'plaintext' },
  flags: ['plaintext'],
  start() {
    let asked = false;
    return {
      next(response) {
        if (response === null) {
          if (asked) return { kind: 'invalid', message: 'missing PLAIN response' };
          asked = true;
          return { kind: 'challenge', data: Buffer.alloc(0) };
        }
        return parsePlain(response);
      },
    };
  },
};

/** The client side, for logging in to a backend: authzid is the user when a master user logs in. */
export function plainClientResponse(authcid: string, password: string, authzid = ''): Buffer {
  return Buffer.concat([Buffer.from(authzid, 'utf8'), Buffer.from([0]), Buffer.from(authcid, 'utf8'), Buffer.from([0]), Buffer.from(password, 'utf8')]);
}
