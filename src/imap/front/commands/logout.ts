import { REPLY } from '../replies.js';
import type { ImapCommandDescriptor } from '../context.js';

export const logoutCommand: ImapCommandDescriptor = {
  name: 'LOGOUT',
  run(ctx, cmd) {
    if (cmd.args.length > 0) return ctx.bad(cmd.tag, REPLY.noArgsExpected);
    ctx.logout(cmd.tag);
  },
};
