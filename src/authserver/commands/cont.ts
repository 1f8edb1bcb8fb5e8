import { decodeSaslResponse } from '../../auth/sasl/index.js';
import { failLine } from '../codec.js';
import type { CommandDescriptor } from '../context.js';

/**
 * CONT<TAB>id<TAB>b64: the client's answer to our challenge. As Dovecot: an id we do not know
 * (finished, cancelled or timed out) gets "timed out"; a CONT we did not ask for ends the request.
 */
export const contCommand: CommandDescriptor<'CONT'> = {
  name: 'CONT',
  states: ['ready'],
  run(ctx, cmd) {
    const req = ctx.request(cmd.id);
    if (req === undefined) return ctx.send(failLine(cmd.id, { reason: 'Authentication request timed out' }));
    if (!req.awaitingResponse) {
      ctx.dropRequest(cmd.id);
      return ctx.send(failLine(cmd.id, { reason: 'Unexpected continuation' }));
    }
    const data = decodeSaslResponse(cmd.data);
    if (data === null) {
      ctx.dropRequest(cmd.id);
      return ctx.send(failLine(cmd.id, { reason: 'Invalid base64 data in continued response' }));
    }
    ctx.track(cmd.id, req.respond(data));
  },
};
