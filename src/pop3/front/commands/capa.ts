import type { Pop3CommandDescriptor } from '../context.js';

/** RFC 2449 §5: "+OK", one capability per line, ".". */
export const capaCommand: Pop3CommandDescriptor = {
  name: 'CAPA',
  run(ctx) {
    ctx.raw(`+OK\r\n${ctx.capabilities().map((c) => `${c}\r\n`).join('')}.\r\n`);
  },
};
