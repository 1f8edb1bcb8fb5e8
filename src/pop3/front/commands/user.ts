import { REPLY } from '../replies.js';
import type { Pop3CommandDescriptor } from '../context.js';

/** RFC 1939 §7. Refused at once before TLS, so the password is never sent in the clear (Dovecot's cmd_user). */
export const userCommand: Pop3CommandDescriptor = {
  name: 'USER',
  run(ctx, args) {
    if (!ctx.plaintextAllowed()) return ctx.err(REPLY.plaintextDisallowed);
    ctx.pendingUser = args;
    ctx.ok();
  },
};
