import { REPLY } from '../replies.js';
import type { Pop3CommandDescriptor } from '../context.js';

/** RFC 1939 §7 APOP needs the plaintext password at the proxy, which postern does not keep; refused as Dovecot does when it is off. */
export const apopCommand: Pop3CommandDescriptor = {
  name: 'APOP',
  run(ctx) {
    ctx.err(REPLY.apopDisabled);
  },
};
