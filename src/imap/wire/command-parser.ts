import {
  ARG_ATOM_CHAR, BACKSLASH, CR, DQUOTE, LBRACE, LPAREN, MAX_SIZE_DIGITS, PLUS, RBRACE, RPAREN, SP, TAG_CHAR, TILDE, allIn,
} from './grammar.js';
import { upperCase } from '../../core/index.js';
import type { ImapWireLimits } from './limits.js';
import type { ImapCommand, ImapValue } from './values.js';

/** Each limit and the syntax produce one code; callers match on it, never on the message. */
export type ImapReadErrorCode = 'syntax' | 'badTag' | 'lineTooLong' | 'literalTooLarge' | 'tooManyArgs' | 'nestingTooDeep';

export interface ParseError {
  kind: 'error';
  code: ImapReadErrorCode;
  message: string;
  /** True only for a LITERAL+ literal over the limit: its bytes are already coming. */
  fatal: boolean;
}

/** What one line segment (the bytes up to CRLF, or up to a literal's header) gave. */
export type SegmentOutcome =
  | { kind: 'done' }
  | { kind: 'literal'; size: number; sync: boolean }
  | ParseError;


const syntax = (message: string): ParseError => ({ kind: 'error', code: 'syntax', message, fatal: false });

/**
 * The grammar of one command, RFC 3501 §9:
 *   command = tag SP (command-any / command-auth / command-nonauth / command-select) CRLF
 * read generically as `tag SP name *(SP value) CRLF` where
 *   value = atom / quoted / literal / NIL / "(" [value *(SP value)] ")"
 * It is fed the command one segment at a time: a segment ends at a CRLF, and a literal's
 * header always ends one, so the parser resumes only between values. No I/O; limits are
 * checked here, where the grammar meets them.
 */
export class CommandParser {
  tag: string | undefined;
  private name = '';
  private readonly root: ImapValue[] = [];
  private readonly stack: ImapValue[][] = [this.root];
  private valueCount = 0;
  /** A value was just read: the next byte must be SP, ")" or the end of the line. */
  private needSeparator = false;

  constructor(private readonly limits: ImapWireLimits) {}

  get started(): boolean {
    return this.tag !== undefined;
  }

  command(): ImapCommand {
    return { tag: this.tag ?? '', name: this.name, args: this.root };
  }

  /**
   * Parses one segment. `line` excludes the CRLF; `budget` is how many more bytes the
   * command may take after this segment (a literal must fit in it).
   */
  parseSegment(line: Buffer, budget: number): SegmentOutcome {
    let p = 0;
    if (this.tag === undefined) {
      const head = this.expectTagAndName(line);
      if (typeof head !== 'number') return head;
      p = head;
    }
    return this.expectValues(line, p, budget);
  }

  /** The literal announced by the last segment has arrived. */
  addLiteral(bytes: Buffer): void {
    this.top().push({ type: 'string', value: bytes, literal: true });
    this.needSeparator = true;
  }

  private top(): ImapValue[] {
    return this.stack[this.stack.length - 1]!;
  }

  /** tag SP command-name; returns where the arguments start. */
  private expectTagAndName(line: Buffer): number | ParseError {
    const tagEnd = indexOfOr(line, SP, 0);
    if (line.length === 0) return syntax('Empty command line');
    if (tagEnd === 0 || tagEnd > this.limits.maxTagBytes || !allIn(TAG_CHAR, line, 0, tagEnd)) {
      return { kind: 'error', code: 'badTag', message: 'Invalid tag', fatal: false };
    }
    this.tag = line.toString('latin1', 0, tagEnd);
    if (tagEnd === line.length) return syntax('Missing command name');
    const nameStart = tagEnd + 1;
    let p = nameStart;
    while (p < line.length && line[p] !== SP) p++;
    // command names are atoms of letters, digits and "-" ("X-..." extensions); anything
    // else (a "(" glued to the name, an empty name) is refused here
    if (p === nameStart || !isCommandName(line, nameStart, p)) return syntax('Invalid command name');
    this.name = upperCase(line.toString('latin1', nameStart, p));
    this.needSeparator = true;
    return p;
  }

  private expectValues(line: Buffer, start: number, budget: number): SegmentOutcome {
    let p = start;
    while (p < line.length) {
      const b = line[p]!;
      if (b === SP) {
        // Dovecot tolerates several spaces between values and before CRLF; so do we
        while (line[p] === SP) p++;
        this.needSeparator = false;
        continue;
      }
      if (b === RPAREN) {
        if (this.stack.length === 1) return syntax("Unexpected ')'");
        this.stack.pop();
        this.needSeparator = true;
        p++;
        continue;
      }
      if (this.needSeparator) return syntax('Missing space between arguments');
      const counted = this.countValue();
      if (counted) return counted;
      if (b === DQUOTE) {
        const q = this.expectQuoted(line, p);
        if (typeof q !== 'number') return q;
        p = q;
      } else if (b === LBRACE) {
        return this.expectLiteralHeader(line, p, budget);
      } else if (b === TILDE && line[p + 1] === LBRACE) {
        return syntax('literal8 not allowed here');
      } else if (b === LPAREN) {
        if (this.stack.length > this.limits.maxListDepth) {
          return { kind: 'error', code: 'nestingTooDeep', message: 'Too deeply nested lists', fatal: false };
        }
        const list: ImapValue = { type: 'list', items: [] };
        this.top().push(list);
        this.stack.push(list.items);
        p++;
        continue;
      } else {
        const a = this.expectAtom(line, p);
        if (typeof a !== 'number') return a;
        p = a;
      }
      this.needSeparator = true;
    }
    if (this.stack.length > 1) return syntax("Missing ')'");
    return { kind: 'done' };
  }

  private countValue(): ParseError | undefined {
    if (++this.valueCount > this.limits.maxArgs) {
      return { kind: 'error', code: 'tooManyArgs', message: 'Too many arguments', fatal: false };
    }
    return undefined;
  }

  /** quoted = DQUOTE *QUOTED-CHAR DQUOTE; QUOTED-CHAR = <any TEXT-CHAR except quoted-specials> / "\" quoted-specials.
   *  8-bit bytes are accepted (RFC 9051 utf8-quoted, and what Dovecot takes). */
  private expectQuoted(line: Buffer, open: number): number | ParseError {
    let p = open + 1;
    let escapes = 0;
    for (;;) {
      if (p >= line.length) return syntax(`Missing '"'`);
      const b = line[p]!;
      if (b === DQUOTE) break;
      if (b === 0) return syntax('NULs not allowed in strings');
      if (b === CR) return syntax(`Missing '"'`);
      if (b === BACKSLASH) {
        const e = line[p + 1];
        if (e !== DQUOTE && e !== BACKSLASH) return syntax('Invalid escape in quoted string');
        escapes++;
        p++;
      }
      p++;
    }
    const raw = line.subarray(open + 1, p);
    this.top().push({ type: 'string', value: escapes === 0 ? Buffer.from(raw) : unescape(raw, escapes), literal: false });
    return p + 1;
  }

  /** literal = "{" number ["+"] "}" CRLF *CHAR8 (RFC 3501 §9, "+" from RFC 7888 §3). */
  private expectLiteralHeader(line: Buffer, open: number, budget: number): SegmentOutcome {
    let p = open + 1;
    let size = 0;
    let digits = 0;
    while (p < line.length && line[p]! >= 0x30 && line[p]! <= 0x39) {
      if (++digits <= MAX_SIZE_DIGITS) size = size * 10 + (line[p]! - 0x30);
      p++;
    }
    if (digits === 0) return syntax('Invalid literal size');
    const sync = line[p] !== PLUS;
    if (!sync) p++;
    if (line[p] !== RBRACE) return syntax(sync ? 'Invalid literal size' : "Expecting '}' after '+'");
    if (p + 1 !== line.length) return syntax('Missing LF after literal size');
    if (digits > MAX_SIZE_DIGITS || size > this.limits.maxLiteralBytes || size > budget) {
      return { kind: 'error', code: 'literalTooLarge', message: 'Literal size too large', fatal: !sync };
    }
    return { kind: 'literal', size, sync };
  }

  /** An atom, or NIL (case-insensitive, RFC 3501 §9 `nil = "NIL"`). */
  private expectAtom(line: Buffer, start: number): number | ParseError {
    let p = start;
    while (p < line.length && line[p] !== SP && line[p] !== RPAREN) {
      const b = line[p]!;
      if (ARG_ATOM_CHAR[b] !== 1) return syntax(b >= 0x80 ? '8bit data in atom' : 'Invalid characters in atom');
      p++;
    }
    const text = line.toString('latin1', start, p);
    this.top().push(text.length === 3 && text.toUpperCase() === 'NIL' ? { type: 'nil', atom: text } : { type: 'atom', value: text });
    return p;
  }
}

function indexOfOr(line: Buffer, byte: number, from: number): number {
  const i = line.indexOf(byte, from);
  return i < 0 ? line.length : i;
}

function isCommandName(line: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const b = line[i]!;
    const ok = (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) || b === 0x2d || b === 0x2e || b === 0x5f;
    if (!ok) return false;
  }
  return true;
}

function unescape(raw: Buffer, escapes: number): Buffer {
  const out = Buffer.allocUnsafe(raw.length - escapes);
  let o = 0;
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === BACKSLASH) i++;
    out[o++] = raw[i]!;
  }
  return out;
}

/** The tag at the start of a line we can't parse (too long), if it is a valid one. */
export function sniffTag(head: Buffer, limits: ImapWireLimits): string | undefined {
  const sp = head.indexOf(SP);
  if (sp <= 0 || sp > limits.maxTagBytes || !allIn(TAG_CHAR, head, 0, sp)) return undefined;
  return head.toString('latin1', 0, sp);
}
