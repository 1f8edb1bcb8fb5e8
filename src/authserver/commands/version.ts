import { PROTOCOL_MAJOR } from '../limits.js';
import type { CommandDescriptor } from '../context.js';

/**
 * VERSION<TAB>major<TAB>minor: the client's first line. Our handshake went out on connect
 * already (Exim waits for DONE before it writes). Another major version cannot talk to us.
 */
export const versionCommand: CommandDescriptor<'VERSION'> = {
  name: 'VERSION',
  states: ['handshake'],
  run(ctx, cmd) {
    if (cmd.major !== PROTOCOL_MAJOR) {
      return ctx.protocolError(`client speaks protocol version ${cmd.major}.${cmd.minor}, this server ${PROTOCOL_MAJOR}.x`);
    }
    ctx.setState({ kind: 'ready', minor: cmd.minor });
  },
};
