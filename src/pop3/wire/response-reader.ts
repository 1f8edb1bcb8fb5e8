import { DEFAULT_POP3_RESPONSE_LIMITS, type Pop3ResponseLimits } from './limits.js';
import { LineSplitter, upperCase } from '../../core/index.js';

/** `ok` "+OK", `err` "-ERR", `continue` a SASL challenge "+ <base64>" (RFC 5034 §4), `other` anything else. */
export type Pop3Status = 'ok' | 'err' | 'continue' | 'other';

/** One line from a POP3 server. */
export interface Pop3Response {
  /** The line as received, with its line ending: what a client gets when it is forwarded. */
  raw: Buffer;
  /** The line without its ending, as UTF-8 text. */
  line: string;
  status: Pop3Status;
  /** The response code upper-cased, without brackets (RFC 2449 §8): 'SYS/TEMP', 'IN-USE', 'AUTH', 'XCLIENT'. */
  code?: string;
  /** What follows the status and the code; for `continue`, the base64 challenge. */
  text: string;
}

export interface Pop3ResponseError {
  kind: 'error';
  code: 'responseTooLong';
  message: string;
  /** Always true: a backend that overflows is abandoned. */
  fatal: true;
}

export type Pop3ResponseResult = { kind: 'response'; response: Pop3Response } | { kind: 'needMore' } | Pop3ResponseError;

const NEED_MORE: Pop3ResponseResult = Object.freeze({ kind: 'needMore' });

/**
 * Reads single-line POP3 responses from a server (RFC 1939 §3, RFC 2449 §8, RFC 5034 §4): all a
 * login needs. Multi-line responses (CAPA, RETR) are never read here. No I/O.
 */
export class Pop3ResponseReader {
  readonly limits: Pop3ResponseLimits;
  readonly #lines: LineSplitter;
  #failed: Pop3ResponseError | undefined;

  constructor(limits?: Partial<Pop3ResponseLimits>) {
    this.limits = { ...DEFAULT_POP3_RESPONSE_LIMITS, ...limits };
    this.#lines = new LineSplitter(this.limits.maxLineBytes);
  }

  feed(chunk: Uint8Array): void {
    this.#lines.feed(chunk);
  }

  get bufferedBytes(): number {
    return this.#lines.bufferedBytes;
  }

  /** Hands over the unread bytes: after a successful login they go to the client untouched. */
  takeBuffered(): Buffer {
    return this.#lines.takeBuffered();
  }

  next(): Pop3ResponseResult {
    if (this.#failed) return this.#failed;
    const r = this.#lines.next();
    switch (r.kind) {
      case 'needMore':
        return NEED_MORE;
      case 'tooLong':
        this.#failed = { kind: 'error', code: 'responseTooLong', message: 'Response from server too long', fatal: true };
        return this.#failed;
      case 'line':
        return { kind: 'response', response: parsePop3Response(r.raw, r.line) };
      default: {
        const never: never = r;
        return never;
      }
    }
  }
}

/**
 * status-line = ("+OK" / "-ERR") [SP [resp-code SP] text]   (RFC 1939 §3, RFC 2449 §8)
 * resp-code   = "[" resp-level *("/" resp-level) "]"
 * continue    = "+" [SP base64]   (RFC 5034 §4; some servers leave out the space, as Dovecot allows)
 */
export function parsePop3Response(raw: Buffer, lineBytes?: Buffer): Pop3Response {
  let body = lineBytes;
  if (body === undefined) {
    let end = raw.length;
    if (raw[end - 1] === 0x0a) end--;
    if (raw[end - 1] === 0x0d) end--;
    body = raw.subarray(0, end);
  }
  const line = body.toString('utf8');
  const status = statusOf(line);
  if (status === 'other') return { raw, line, status, text: line };
  const rest = line.slice(status === 'ok' ? 4 : status === 'err' ? 5 : 2);
  if (status === 'continue') return { raw, line, status, text: rest };
  const m = rest.startsWith('[') ? /^\[([^\]]*)\] ?/.exec(rest) : null;
  if (!m) return { raw, line, status, text: rest };
  return { raw, line, status, code: upperCase(m[1]!), text: rest.slice(m[0].length) };
}

function statusOf(line: string): Pop3Status {
  // Status indicators are upper case (RFC 1939 §3); "+OKAY" is none.
  if (line === '+OK' || line.startsWith('+OK ')) return 'ok';
  if (line === '-ERR' || line.startsWith('-ERR ')) return 'err';
  if (line === '+' || line.startsWith('+ ')) return 'continue';
  return 'other';
}
