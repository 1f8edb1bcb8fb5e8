import { z } from 'zod';
import { duration, size } from '../core/index.js';

/** The `lmtp:` section: the LMTP proxy front (RFC 2033), for listeners with `protocol: lmtp`. */
export const lmtpConfigSchema = z
  .strictObject({
    max_message_size: size.prefault('50M').describe('Largest message accepted, advertised as SIZE in the LHLO reply (RFC 1870). A larger SIZE= on MAIL FROM gets 552; a body that grows past it is never delivered and each recipient gets 552 5.3.4. The body is streamed, never held in memory.'),
    hostname: z.string().min(1).optional().describe('Name in the 220 greeting and the LHLO reply, and the LHLO postern gives backends. Default: the system host name.'),
    idle_timeout: duration.prefault('5 min').describe('A client silent this long between commands, or within DATA, gets 421 and is disconnected.'),
    max_recipients: z.number().int().min(1).prefault(1000).describe('Accepted recipients per transaction; one more gets `452 4.5.3 Too many recipients` (RFC 5321 §4.5.3.1.10) and the MTA sends it in a later transaction. Like Dovecot\'s submission_max_recipients; Dovecot\'s LMTP has no limit.'),
    max_bad_commands: z.number().int().min(1).prefault(10).describe('Replies of 500, 501 or 503 (unknown commands, bad syntax, bad sequence) one session may earn; past it the client gets `421 4.7.0 Too many invalid commands.` and is disconnected, as Dovecot\'s LMTP does after 10.'),
  })
  .prefault({});

export type LmtpConfig = z.output<typeof lmtpConfigSchema>;
