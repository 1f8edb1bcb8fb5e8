import { decodeSaslResponse } from '../../auth/sasl/index.js';
import { failLine, printable } from '../codec.js';
import type { CommandDescriptor } from '../context.js';
import { MAX_REQUESTS_PER_CONNECTION } from '../limits.js';

/**
 * AUTH<TAB>id<TAB>mech<TAB>service=..[<TAB>params][<TAB>resp=b64]: starts a request. A reused
 * id or a flood of requests breaks the protocol (the connection closes); an unknown mechanism
 * or bad base64 is this request's failure only.
 */
export const authCommand: CommandDescriptor<'AUTH'> = {
  name: 'AUTH',
  states: ['ready'],
  run(ctx, cmd) {
    if (ctx.request(cmd.id) !== undefined) return ctx.protocolError(`duplicate request id ${cmd.id}`);
    if (ctx.requestCount >= MAX_REQUESTS_PER_CONNECTION) return ctx.protocolError(`more than ${MAX_REQUESTS_PER_CONNECTION} requests in flight`);
    const mech = ctx.mechanism(cmd.mech);
    if (mech === undefined) {
      ctx.log.info({ event: 'auth_request_refused', id: cmd.id, mech: printable(cmd.mech) }, 'unsupported mechanism');
      return ctx.send(failLine(cmd.id, { reason: 'Unsupported authentication mechanism' }));
    }
    // An empty resp= is no initial response: Exim sends one for LOGIN (Dovecot allows it for that).
    let initial: Buffer | null = null;
    if (cmd.resp !== undefined && cmd.resp !== '') {
      initial = decodeSaslResponse(cmd.resp);
      if (initial === null) return ctx.send(failLine(cmd.id, { reason: 'Invalid base64 data in initial response' }));
    }
    ctx.startRequest(cmd, mech, initial);
  },
};
