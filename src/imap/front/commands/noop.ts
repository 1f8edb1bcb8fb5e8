import { REPLY } from '../replies.js';
import type { ImapCommandDescriptor } from '../context.js';

export const noopCommand: ImapCommandDescriptor = {
  name: 'NOOP',
  run(ctx, cmd) {
    if (cmd.args.length > 0) return ctx.bad(cmd.tag, REPLY.noArgsExpected);
    ctx.tagged(cmd.tag, 'OK', REPLY.noopDone);
  },
};
