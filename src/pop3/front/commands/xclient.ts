import type { ForwardedFields } from '../../../login/index.js';
import { REPLY } from '../replies.js';
import type { Pop3CommandDescriptor } from '../context.js';

const KEYS: Readonly<Record<string, keyof ForwardedFields>> = { ADDR: 'ip', PORT: 'port', SESSION: 'session', TTL: 'ttl' };

/**
 * Dovecot's POP3 XCLIENT (src/pop3-login/client.c): `XCLIENT ADDR=<ip> PORT=<port> SESSION=<id>
 * TTL=<n>` from login_trusted_networks sets the client identity a proxy in front forwards. Other
 * keys (FORWARD, DESTADDR, CLIENT-TRANSPORT, ...) are accepted and ignored.
 */
export const xclientCommand: Pop3CommandDescriptor = {
  name: 'XCLIENT',
  run(ctx, args) {
    if (!ctx.trusted) return ctx.ok(REPLY.xclientUntrusted);
    const fields: ForwardedFields = {};
    for (const token of args.split(' ')) {
      const eq = token.indexOf('=');
      const key = eq < 0 ? undefined : KEYS[token.slice(0, eq).toUpperCase()];
      if (key) fields[key] = token.slice(eq + 1);
    }
    if (!ctx.xclient(fields)) return ctx.err(REPLY.xclientInvalid);
    ctx.ok(REPLY.xclientUpdated);
  },
};
