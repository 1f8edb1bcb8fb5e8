import type { Secret } from '../../core/index.js';
import type { ImapCommand, ImapValue } from '../wire/index.js';

/** What a pre-login command may do to its session; the session owns state and I/O. */
export interface ImapFrontContext {
  readonly secured: boolean;
  readonly tlsAvailable: boolean;
  /** LOGIN and plaintext mechanisms are allowed on this connection now. */
  plaintextAllowed(): boolean;
  capabilities(): string[];
  untagged(text: string): void;
  tagged(tag: string, status: 'OK' | 'NO' | 'BAD', text: string): void;
  /** A bad command: BAD reply, counted towards max_bad_commands. */
  bad(tag: string, text: string): void;
  /** The client asked for CAPABILITY before login (changes how the login reply is shaped). */
  noteCapabilityAsked(): void;
  /** The client's own ID list: forwarded client identity when it comes from a trusted network. */
  clientId(pairs: ReadonlyArray<readonly [string, string | null]>): void;
  idReplyFields(): ReadonlyArray<readonly [string, string]>;
  startTls(tag: string): Promise<void>;
  login(tag: string, mech: string, user: string, password: Secret): Promise<void>;
  beginAuthenticate(tag: string, mech: string, initialResponse: string | undefined): Promise<void>;
  logout(tag: string): void;
}

export interface ImapCommandDescriptor {
  readonly name: string;
  run(ctx: ImapFrontContext, cmd: ImapCommand): void | Promise<void>;
}

/** An astring argument as text, or undefined when the argument is not one. */
export function astring(v: ImapValue | undefined): string | undefined {
  if (!v) return undefined;
  if (v.type === 'atom') return v.value;
  if (v.type === 'string') return v.value.toString('utf8');
  return undefined;
}
