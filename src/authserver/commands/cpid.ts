import type { CommandDescriptor } from '../context.js';

/** CPID<TAB>pid: the client's process id, for logs. Once per connection. */
export const cpidCommand: CommandDescriptor<'CPID'> = {
  name: 'CPID',
  states: ['ready'],
  run(ctx, cmd) {
    const st = ctx.state;
    if (st.kind !== 'ready') return;
    if (st.cpid !== undefined) return ctx.protocolError('CPID sent twice');
    ctx.setState({ ...st, cpid: cmd.pid });
  },
};
