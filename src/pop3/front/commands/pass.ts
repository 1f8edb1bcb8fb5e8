import { Secret } from '../../../core/index.js';
import { REPLY } from '../replies.js';
import type { Pop3CommandDescriptor } from '../context.js';

/** RFC 1939 §7: the password is the rest of the line, spaces included. Checked as SASL PLAIN, as Dovecot does. */
export const passCommand: Pop3CommandDescriptor = {
  name: 'PASS',
  run(ctx, args) {
    const user = ctx.pendingUser;
    ctx.pendingUser = undefined;
    if (user === undefined && !ctx.plaintextAllowed()) return ctx.err(REPLY.plaintextDisallowed);
    if (user === undefined || user === '') return ctx.err(REPLY.noUser);
    return ctx.login('PLAIN', user, new Secret(args));
  },
};
