import { REPLY } from '../replies.js';
import type { ImapCommandDescriptor } from '../context.js';

/** RFC 3501 6.2.2 with SASL-IR (RFC 4959): AUTHENTICATE mech [initial-response]. */
export const authenticateCommand: ImapCommandDescriptor = {
  name: 'AUTHENTICATE',
  run(ctx, cmd) {
    const [mech, ir] = cmd.args;
    if (cmd.args.length < 1 || cmd.args.length > 2 || mech?.type !== 'atom' || (ir !== undefined && ir.type !== 'atom')) {
      return ctx.bad(cmd.tag, REPLY.authArgs);
    }
    return ctx.beginAuthenticate(cmd.tag, mech.value.toUpperCase(), ir?.type === 'atom' ? ir.value : undefined);
  },
};
