import { z } from 'zod';
import { duration, size } from '../core/index.js';

/** The `pop3:` section: limits and pre-login behaviour of the POP3 front. */
export const pop3ConfigSchema = z
  .strictObject({
    max_line_length: size.prefault('64k').describe('Longest line accepted before login, commands and AUTH responses alike (RFC 5034 lifts the 255-octet command limit for AUTH). A longer line gets "-ERR Input buffer full, aborting" and the connection is closed, as Dovecot does.'),
    max_bad_commands: z.number().int().min(1).prefault(3).describe('Unknown commands in a row tolerated before login; the next one gets "-ERR Too many invalid bad commands." and the connection is closed. A known command resets the count (Dovecot pop3-login: 3).'),
    max_auth_failures: z.number().int().min(1).prefault(3).describe('Failed logins on one connection before it is closed.'),
    login_timeout: duration.prefault('3 min').describe('Time a client has from connecting to a successful login.'),
  })
  .prefault({});

export type Pop3Config = z.output<typeof pop3ConfigSchema>;
