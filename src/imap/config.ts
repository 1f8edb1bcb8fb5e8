import { z } from 'zod';
import { duration, size } from '../core/index.js';

/** The `imap:` section: limits and pre-login behaviour of the IMAP front. */
export const imapConfigSchema = z
  .strictObject({
    max_line_length: size.prefault('64k').describe('Longest command line accepted before login (Dovecot imap_max_line_length). A longer line gets BAD and counts as a bad command.'),
    max_literal_size: size.prefault('8k').describe('Largest literal accepted before login. Only user names, passwords and ID values travel there; a bigger synchronizing literal gets BAD, a bigger LITERAL+ closes the connection.'),
    max_bad_commands: z.number().int().min(1).prefault(10).describe('Bad or unknown commands allowed before login: the one that reaches this count gets its BAD, then "* BYE", and the connection is closed.'),
    max_auth_failures: z.number().int().min(1).prefault(3).describe('Failed logins on one connection before it is closed (Dovecot closes after 3).'),
    login_timeout: duration.prefault('3 min').describe('Time a client has from connecting to a successful login.'),
    capability: z.array(z.string().regex(/^\+?[\x21-\x7e]*$/, 'expected capability atoms')).optional().describe('Pre-login capabilities instead of the default set (Dovecot imap_capability); a first item starting with "+" adds to the default set. STARTTLS, LOGINDISABLED and AUTH= are added as the connection needs.'),
    id_send: z.record(z.string().regex(/^[\x20-\x7e]{1,30}$/, 'expected printable ASCII, at most 30 characters'), z.string().regex(/^[\x20-\x7e]{0,1024}$/, 'expected printable ASCII, at most 1024 characters')).prefault({ name: 'postern' }).describe('Fields of postern\'s own reply to a pre-login ID command (Dovecot imap_id_send).'),
  })
  .prefault({});

export type ImapConfig = z.output<typeof imapConfigSchema>;
