import type { ConnectionOptions } from 'node:tls';
import { readImap, type ScriptedClient } from './imap-client.js';

/** One POP3 status line (RFC 1939 §3). */
export const STATUS_LINE = /^(\+OK|-ERR)[^\r\n]*\r\n/m;
/** The end of a multi-line reply. */
export const MULTI_END = /^\.\r\n/m;

export interface Pop3ScriptedClient extends ScriptedClient {
  /** Sends `text` + CRLF, resolves with everything up to the next status line (or `until`). */
  pop(text: string, until?: RegExp): Promise<string>;
}

/** A byte-level POP3 client for exchanges real clients would never send. */
export async function readPop3(port: number, opts: { localAddress?: string; tls?: ConnectionOptions; host?: string } = {}): Promise<Pop3ScriptedClient> {
  const c = await readImap(port, { ...opts, greeting: STATUS_LINE });
  return Object.assign(c, { pop: (text: string, until: RegExp = STATUS_LINE) => c.command(text, until) });
}
