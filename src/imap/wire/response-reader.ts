import { ByteQueue, upperCase } from '../../core/index.js';
import { CR, LF, trailingLiteral } from './grammar.js';
import { DEFAULT_IMAP_RESPONSE_LIMITS, type ImapResponseLimits } from './limits.js';

export type ImapStatus = 'OK' | 'NO' | 'BAD' | 'BYE' | 'PREAUTH';

/** One response unit from a backend: a line, with any literals inside it joined in. */
export interface ImapResponse {
  /** The whole unit as received, including the final CRLF. */
  raw: Buffer;
  /** '*' (untagged), '+' (continuation) or the command's tag. */
  tag: string;
  status?: ImapStatus;
  /** The resp-text-code's atom, upper-cased: 'CAPABILITY', 'AUTHENTICATIONFAILED', ... */
  code?: string;
  /** What follows the code's atom inside "[ ]"; undefined when nothing does. */
  codeText?: string;
  /** Human text after the "]" for status responses; after the name for untagged data; after "+ " for continuations. */
  text: string;
  /** Upper-cased data name of an untagged non-status response: 'CAPABILITY', 'ID', 'EXISTS' (for "* 3 EXISTS"). */
  untaggedName?: string;
}

export interface ResponseReadError {
  kind: 'error';
  code: 'responseTooLong';
  message: string;
  /** Always true: a backend that overflows is abandoned. */
  fatal: true;
}

export type ResponseReadResult = { kind: 'response'; response: ImapResponse } | { kind: 'needMore' } | ResponseReadError;

const NEED_MORE: ResponseReadResult = Object.freeze({ kind: 'needMore' });
const STATUSES: ReadonlySet<string> = new Set<ImapStatus>(['OK', 'NO', 'BAD', 'BYE', 'PREAUTH']);
const HEADER_WINDOW_BYTES = 24;

/**
 * Reads IMAP responses from a server (RFC 3501 §7, RFC 9051 §7). No I/O.
 * A data line ending in "{n}" continues after n literal bytes (`* ID ("name" {3}\r\nfoo)`);
 * a status or continuation line never does, since its text is free-form (RFC 3501 §9
 * `resp-text`) and may itself end in "{5}".
 */
export class ImapResponseReader {
  readonly limits: ImapResponseLimits;
  private readonly input = new ByteQueue();
  /** Where the current line of the unit starts, and how far LF has been searched. */
  private lineStart = 0;
  private scanned = 0;
  /** Waiting until the unit holds this many bytes (the end of a literal); -1 when not. */
  private literalEnd = -1;
  /** Decided by the unit's first line: status and continuation lines take no literals. */
  private textOnly: boolean | undefined;
  private failed: ResponseReadError | undefined;

  constructor(limits?: Partial<ImapResponseLimits>) {
    this.limits = { ...DEFAULT_IMAP_RESPONSE_LIMITS, ...limits };
  }

  feed(chunk: Uint8Array): void {
    this.input.push(chunk);
  }

  get bufferedBytes(): number {
    return this.input.size;
  }

  /** Hands over the unread bytes (after a successful login they go to the client untouched). */
  takeBuffered(): Buffer {
    const out = this.input.takeAll();
    this.resetUnit();
    return out;
  }

  next(): ResponseReadResult {
    if (this.failed) return this.failed;
    const max = this.limits.maxResponseBytes;
    for (;;) {
      if (this.literalEnd >= 0) {
        if (this.input.size < this.literalEnd) return NEED_MORE;
        this.lineStart = this.scanned = this.literalEnd;
        this.literalEnd = -1;
      }
      const lf = this.input.indexOf(LF, this.scanned);
      if (lf < 0) {
        this.scanned = this.input.size;
        return this.input.size > max ? this.fail() : NEED_MORE;
      }
      if (lf + 1 > max) return this.fail();
      const end = lf > this.lineStart && this.input.byteAt(lf - 1) === CR ? lf - 1 : lf;
      this.textOnly ??= isTextLine(this.input.slice(0, end));
      const literal = this.textOnly ? undefined : trailingLiteral(this.input.slice(Math.max(this.lineStart, end - HEADER_WINDOW_BYTES), end));
      if (literal) {
        if (lf + 1 + literal.size > max) return this.fail();
        this.literalEnd = lf + 1 + literal.size;
        continue;
      }
      const raw = this.input.take(lf + 1);
      this.resetUnit();
      return { kind: 'response', response: parseResponse(raw) };
    }
  }

  private fail(): ResponseReadError {
    this.failed = { kind: 'error', code: 'responseTooLong', message: 'Response from server too long', fatal: true };
    return this.failed;
  }

  private resetUnit(): void {
    this.lineStart = this.scanned = 0;
    this.literalEnd = -1;
    this.textOnly = undefined;
  }
}

/** "+ ..." or "<tag> OK|NO|BAD|BYE|PREAUTH ...": free text follows, not data. */
function isTextLine(line: Buffer): boolean {
  if (line[0] === 0x2b) return true;
  const sp = line.indexOf(0x20);
  if (sp < 0) return false;
  const sp2 = line.indexOf(0x20, sp + 1);
  return STATUSES.has(upperCase(line.toString('latin1', sp + 1, sp2 < 0 ? line.length : sp2)));
}

/**
 * Splits a response unit into its parts:
 *   response-tagged = tag SP resp-cond-state CRLF;  resp-cond-state = ("OK" / "NO" / "BAD") SP resp-text
 *   resp-text = ["[" resp-text-code "]" SP] text;   continue-req = "+" SP (resp-text / base64) CRLF
 */
export function parseResponse(raw: Buffer): ImapResponse {
  let end = raw.length;
  if (raw[end - 1] === LF) end--;
  if (raw[end - 1] === CR) end--;
  const line = raw.toString('utf8', 0, end);
  const [tag, rest] = splitWord(line);
  if (tag === '+') return { raw, tag, text: rest };
  const [word, after] = splitWord(rest);
  const upper = upperCase(word);
  if (STATUSES.has(upper)) return { raw, tag, status: upper as ImapStatus, ...parseRespText(after) };
  if (tag === '*') {
    if (/^\d+$/.test(word)) {
      const [name, text] = splitWord(after);
      return { raw, tag, untaggedName: upperCase(name), text };
    }
    return { raw, tag, untaggedName: upper, text: after };
  }
  return { raw, tag, text: rest };
}

function parseRespText(s: string): { code?: string; codeText?: string; text: string } {
  if (!s.startsWith('[')) return { text: s };
  const close = s.indexOf(']');
  if (close < 0) return { text: s };
  const inner = s.slice(1, close);
  const sp = inner.indexOf(' ');
  const code = upperCase(sp < 0 ? inner : inner.slice(0, sp));
  const text = s.startsWith(' ', close + 1) ? s.slice(close + 2) : s.slice(close + 1);
  return sp < 0 ? { code, text } : { code, codeText: inner.slice(sp + 1), text };
}

function splitWord(s: string): [string, string] {
  const sp = s.indexOf(' ');
  return sp < 0 ? [s, ''] : [s.slice(0, sp), s.slice(sp + 1)];
}
