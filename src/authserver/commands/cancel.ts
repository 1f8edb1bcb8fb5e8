import type { CommandDescriptor } from '../context.js';

/** CANCEL<TAB>id: the client gave up (its SMTP client sent `*`). No reply; unknown ids are ignored. */
export const cancelCommand: CommandDescriptor<'CANCEL'> = {
  name: 'CANCEL',
  states: ['ready'],
  run(ctx, cmd) {
    ctx.dropRequest(cmd.id);
  },
};
