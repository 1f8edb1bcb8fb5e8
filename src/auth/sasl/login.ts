import { Secret } from '../../core/index.js';
import type { SaslServerMechanism } from './types.js';

const USERNAME = Buffer.from('Username:');
const PASSWORD = Buffer.from('Password:');

/** The LOGIN mechanism (draft-murchison-sasl-login): two challenges, as Dovecot words them. */
export const loginMechanism: SaslServerMechanism = {
  name: 'LOGIN',
  needs: { kind: 'plaintext' },
  flags: ['plaintext'],
  start() {
    let user: string | undefined;
    let started = false;
    return {
      next(response) {
        if (!started) {
          started = true;
          // An initial response (SASL-IR) carries the user name.
          if (response === null) return { kind: 'challenge', data: USERNAME };
        }
        if (response === null) return { kind: 'invalid', message: 'missing LOGIN response' };
        if (user === undefined) {
          user = response.toString('utf8');
          if (user === '' || user.includes('\0')) return { kind: 'invalid', message: 'invalid user name' };
          return { kind: 'challenge', data: PASSWORD };
        }
        return { kind: 'verify', identity: { authcid: user }, secret: new Secret(response.toString('utf8')) };
      },
    };
  },
};
