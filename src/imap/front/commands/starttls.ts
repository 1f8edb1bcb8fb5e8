import { REPLY } from '../replies.js';
import type { ImapCommandDescriptor } from '../context.js';

/** RFC 3501 6.2.1. */
export const starttlsCommand: ImapCommandDescriptor = {
  name: 'STARTTLS',
  run(ctx, cmd) {
    if (cmd.args.length > 0) return ctx.bad(cmd.tag, REPLY.noArgsExpected);
    if (ctx.secured) return ctx.bad(cmd.tag, REPLY.tlsActive);
    if (!ctx.tlsAvailable) return ctx.bad(cmd.tag, REPLY.tlsUnavailable);
    return ctx.startTls(cmd.tag);
  },
};
