import type { SaslServerMechanism } from '../auth/sasl/index.js';
import type { Logger } from '../log/index.js';
import type { ClientCommand, CommandName } from './codec.js';
import type { AuthExchange } from './request.js';

/** Where a client connection is; each state carries only what is valid in it. */
export type ConnectionState =
  | { kind: 'handshake' } // our handshake is out; waiting for the client's VERSION
  | { kind: 'ready'; minor: number; cpid?: number }
  | { kind: 'draining'; reason: string } // no more input; closing once the requests in flight have answered
  | { kind: 'closed' };

export type AuthCommand = Extract<ClientCommand, { kind: 'AUTH' }>;

/** What a command may do to its connection. */
export interface AuthConnectionContext {
  readonly state: ConnectionState;
  readonly log: Logger;
  setState(state: Extract<ConnectionState, { kind: 'ready' }>): void;
  /** A mechanism this server offers (by upper-case name), or undefined. */
  mechanism(name: string): SaslServerMechanism | undefined;
  request(id: number): AuthExchange | undefined;
  readonly requestCount: number;
  /** Starts a request that passed the command's checks; its replies go out by themselves. */
  startRequest(cmd: AuthCommand, mech: SaslServerMechanism, initial: Buffer | null): void;
  /** Watches a request's work: a rejection is a bug, logged with its stack, and closes this connection. */
  track(id: number, work: Promise<void>): void;
  /** Forgets a request (CANCEL, or a FAIL sent by a command). */
  dropRequest(id: number): void;
  send(line: string): void;
  /** The client broke the protocol: log it and close this connection (others are untouched). */
  protocolError(message: string): void;
}

/** One command: the states it is allowed in, and what it does (STYLE practice 3). */
export interface CommandDescriptor<K extends CommandName = CommandName> {
  name: K;
  states: ReadonlyArray<ConnectionState['kind']>;
  run(ctx: AuthConnectionContext, cmd: Extract<ClientCommand, { kind: K }>): void;
}
