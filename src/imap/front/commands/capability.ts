import { REPLY } from '../replies.js';
import type { ImapCommandDescriptor } from '../context.js';

export const capabilityCommand: ImapCommandDescriptor = {
  name: 'CAPABILITY',
  run(ctx, cmd) {
    if (cmd.args.length > 0) return ctx.bad(cmd.tag, REPLY.noArgsExpected);
    ctx.noteCapabilityAsked();
    ctx.untagged(`CAPABILITY ${ctx.capabilities().join(' ')}`);
    ctx.tagged(cmd.tag, 'OK', REPLY.capabilityDone);
  },
};
