import type { Pop3CommandDescriptor } from '../context.js';

/** RFC 1939 §6: QUIT in the AUTHORIZATION state ends the session without an UPDATE state. */
export const quitCommand: Pop3CommandDescriptor = {
  name: 'QUIT',
  run(ctx) {
    ctx.quit();
  },
};
