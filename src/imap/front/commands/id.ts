import { REPLY } from '../replies.js';
import type { ImapCommandDescriptor } from '../context.js';
import { quoted } from '../../wire/index.js';

/** RFC 2971: `ID NIL` or `ID ("key" "value" ...)`, at most 30 pairs. */
export const idCommand: ImapCommandDescriptor = {
  name: 'ID',
  run(ctx, cmd) {
    const arg = cmd.args[0];
    if (cmd.args.length !== 1 || !arg || (arg.type !== 'nil' && arg.type !== 'list')) return ctx.bad(cmd.tag, REPLY.idArgs);
    if (arg.type === 'list') {
      const items = arg.items;
      if (items.length % 2 !== 0 || items.length > 60) return ctx.bad(cmd.tag, REPLY.idArgs);
      const pairs: Array<[string, string | null]> = [];
      for (let i = 0; i < items.length; i += 2) {
        const k = items[i]!;
        const v = items[i + 1]!;
        if (k.type !== 'string' || (v.type !== 'string' && v.type !== 'nil')) return ctx.bad(cmd.tag, REPLY.idArgs);
        pairs.push([k.value.toString('utf8'), v.type === 'nil' ? null : v.value.toString('utf8')]);
      }
      ctx.clientId(pairs);
    }
    const fields = ctx.idReplyFields();
    ctx.untagged(`ID ${fields.length === 0 ? 'NIL' : `(${fields.map(([k, v]) => `${quoted(k)} ${quoted(v)}`).join(' ')})`}`);
    ctx.tagged(cmd.tag, 'OK', REPLY.idDone);
  },
};
