import { REPLY } from '../replies.js';
import type { Pop3CommandDescriptor } from '../context.js';

/** RFC 2595 §4. */
export const stlsCommand: Pop3CommandDescriptor = {
  name: 'STLS',
  run(ctx) {
    if (ctx.secured) return ctx.err(REPLY.tlsActive);
    if (!ctx.tlsAvailable) return ctx.err(REPLY.tlsUnavailable);
    return ctx.startTls();
  },
};
