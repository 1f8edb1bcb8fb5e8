import type { ImapCommandDescriptor } from '../context.js';
import { authenticateCommand } from './authenticate.js';
import { capabilityCommand } from './capability.js';
import { idCommand } from './id.js';
import { loginCommand } from './login.js';
import { logoutCommand } from './logout.js';
import { noopCommand } from './noop.js';
import { starttlsCommand } from './starttls.js';

/** The commands allowed before login; anything else is BAD. */
export const PRE_LOGIN_COMMANDS: ReadonlyMap<string, ImapCommandDescriptor> = new Map(
  [capabilityCommand, noopCommand, logoutCommand, starttlsCommand, idCommand, loginCommand, authenticateCommand].map((c) => [c.name, c]),
);
