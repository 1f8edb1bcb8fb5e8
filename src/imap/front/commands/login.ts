import { Secret } from '../../../core/index.js';
import { REPLY } from '../replies.js';
import { astring, type ImapCommandDescriptor } from '../context.js';

/** RFC 3501 6.2.3: LOGIN userid password. */
export const loginCommand: ImapCommandDescriptor = {
  name: 'LOGIN',
  run(ctx, cmd) {
    const user = astring(cmd.args[0]);
    const password = astring(cmd.args[1]);
    if (cmd.args.length !== 2 || user === undefined || password === undefined || user === '') return ctx.bad(cmd.tag, REPLY.loginArgs);
    if (!ctx.plaintextAllowed()) return ctx.tagged(cmd.tag, 'NO', REPLY.plaintextDisallowed);
    // Dovecot runs the LOGIN command as SASL PLAIN, so %m is PLAIN in passdb queries.
    return ctx.login(cmd.tag, 'PLAIN', user, new Secret(password));
  },
};
