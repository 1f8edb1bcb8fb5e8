import type { CommandName } from '../codec.js';
import type { CommandDescriptor } from '../context.js';
import { authCommand } from './auth.js';
import { cancelCommand } from './cancel.js';
import { contCommand } from './cont.js';
import { cpidCommand } from './cpid.js';
import { versionCommand } from './version.js';

/** The client commands of the auth-client protocol (the master side's REQUEST/USER are not served). */
export const COMMANDS: ReadonlyMap<CommandName, CommandDescriptor> = new Map(
  ([versionCommand, cpidCommand, authCommand, contCommand, cancelCommand] as CommandDescriptor[]).map((c) => [c.name, c]),
);
