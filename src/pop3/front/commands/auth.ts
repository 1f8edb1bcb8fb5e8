import type { Pop3CommandDescriptor } from '../context.js';

/**
 * RFC 5034 §4: AUTH mechanism [initial-response]. A bare AUTH lists the mechanisms one per
 * line: the pre-CAPA discovery Outlook still sends, answered as Dovecot does.
 */
export const authCommand: Pop3CommandDescriptor = {
  name: 'AUTH',
  run(ctx, args) {
    if (args === '') {
      ctx.raw(`+OK\r\n${ctx.mechanisms().map((m) => `${m}\r\n`).join('')}.\r\n`);
      return;
    }
    const sp = args.indexOf(' ');
    const mech = (sp < 0 ? args : args.slice(0, sp)).toUpperCase();
    const ir = sp < 0 ? undefined : args.slice(sp + 1);
    return ctx.beginAuth(mech, ir);
  },
};
