import type { Pop3CommandDescriptor } from '../context.js';
import { apopCommand } from './apop.js';
import { authCommand } from './auth.js';
import { capaCommand } from './capa.js';
import { passCommand } from './pass.js';
import { quitCommand } from './quit.js';
import { stlsCommand } from './stls.js';
import { userCommand } from './user.js';
import { xclientCommand } from './xclient.js';

/**
 * The commands of the AUTHORIZATION state (RFC 1939 §4, RFC 2449, RFC 2595, RFC 5034);
 * anything else, NOOP included (RFC 1939 §5: TRANSACTION state only), is "-ERR Unknown command.".
 */
export const PRE_LOGIN_COMMANDS: ReadonlyMap<string, Pop3CommandDescriptor> = new Map(
  [capaCommand, stlsCommand, userCommand, passCommand, authCommand, apopCommand, quitCommand, xclientCommand].map((c) => [c.name, c]),
);
