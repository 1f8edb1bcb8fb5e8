import { joinChunks } from '../../core/index.js';
import { ImapWireError } from './errors.js';
import { ARG_ATOM_CHAR, ASTRING_CHAR, ATOM_CHAR, BACKSLASH, CR, DQUOTE, LF, TAG_CHAR, allIn, textOf } from './grammar.js';

/** Whether the peer announced LITERAL+ (RFC 7888): then literals need no "+" round trip. */
export interface LiteralMode {
  literalPlus: boolean;
}

export type AStringEncoding =
  | { kind: 'inline'; text: string }
  /** `header` is "{n}" or "{n+}"; it ends the line, CRLF and `bytes` follow. */
  | { kind: 'literal'; header: string; bytes: Buffer };

/** An argument to write. */
export type WireArg =
  /** Written as it is (AUTHENTICATE's mechanism and base64, flags); must be atom characters. */
  | { kind: 'atom'; value: string }
  /** astring: an atom when it can be, else quoted, else a literal (LOGIN's user and password). */
  | { kind: 'astring'; value: string | Buffer }
  /** string: quoted, else a literal; never an atom (ID's keys and values, RFC 2971). */
  | { kind: 'string'; value: string | Buffer }
  | { kind: 'nil' }
  | { kind: 'list'; items: WireArg[] };

const toBytes = (v: string | Buffer): Buffer => (typeof v === 'string' ? Buffer.from(v, 'utf8') : v);

// The same classes over strings: the usual values (ASCII names, addresses, numbers) are written without a Buffer each.
const TAG_TEXT = textOf(TAG_CHAR);
const ATOM_TEXT = textOf(ATOM_CHAR);
const ARG_ATOM_TEXT = textOf(ARG_ATOM_CHAR);
const ASTRING_TEXT = textOf(ASTRING_CHAR);
/** What `isQuotable` accepts, as a string: 7-bit, no NUL, CR or LF. */
const QUOTABLE_TEXT = /^[^\x00\r\n\x80-\uffff]*$/;
/** Quotable with nothing to escape: most values (names, addresses, numbers), quoted as they are. */
const PLAIN_TEXT = /^[^\x00\r\n"\\\x80-\uffff]*$/;

/** The quoted form of a string, or undefined when it cannot be quoted (8-bit, NUL, CR or LF). */
function quoteString(s: string): string | undefined {
  if (PLAIN_TEXT.test(s)) return `"${s}"`;
  return QUOTABLE_TEXT.test(s) ? `"${s.replace(/["\\]/g, '\\$&')}"` : undefined;
}

/** quoted = DQUOTE *QUOTED-CHAR DQUOTE (RFC 3501 §9): 7-bit, no CR, LF or NUL. */
function isQuotable(b: Buffer): boolean {
  for (const c of b) if (c === 0 || c === CR || c === LF || c >= 0x80) return false;
  return true;
}

function assertNoNul(b: Buffer): void {
  if (b.includes(0)) throw new ImapWireError('IMAP_WIRE_UNENCODABLE', 'NUL cannot be sent in an IMAP string');
}

/** The quoted form of a string; throws for one that can't be quoted (see `encodeAString`). */
export function quoted(value: string | Buffer): string {
  const q = typeof value === 'string' ? quoteString(value) : undefined;
  if (q !== undefined) return q;
  const b = toBytes(value);
  if (!isQuotable(b)) throw new ImapWireError('IMAP_WIRE_UNENCODABLE', 'Value cannot be a quoted string');
  let out = '"';
  for (const c of b) {
    if (c === DQUOTE || c === BACKSLASH) out += '\\';
    out += String.fromCharCode(c);
  }
  return out + '"';
}

function literal(b: Buffer, mode: LiteralMode): AStringEncoding {
  assertNoNul(b);
  return { kind: 'literal', header: mode.literalPlus ? `{${b.length}+}` : `{${b.length}}`, bytes: b };
}

/**
 * astring = 1*ASTRING-CHAR / string (RFC 3501 §9). "NIL" is quoted so no server reads it as nil.
 * 8-bit values go as literals: quoted strings are 7-bit in IMAP4rev1.
 */
export function encodeAString(value: string | Buffer, mode: LiteralMode): AStringEncoding {
  if (typeof value === 'string' && ASTRING_TEXT.test(value)) return { kind: 'inline', text: value.length === 3 && value.toUpperCase() === 'NIL' ? `"${value}"` : value };
  const b = toBytes(value);
  if (b.length > 0 && allIn(ASTRING_CHAR, b) && b.toString('latin1').toUpperCase() !== 'NIL') {
    return { kind: 'inline', text: b.toString('latin1') };
  }
  return encodeString(b, mode);
}

/** string = quoted / literal. */
export function encodeString(value: string | Buffer, mode: LiteralMode): AStringEncoding {
  const q = typeof value === 'string' ? quoteString(value) : undefined;
  if (q !== undefined) return { kind: 'inline', text: q };
  const b = toBytes(value);
  return isQuotable(b) ? { kind: 'inline', text: quoted(b) } : literal(b, mode);
}

/** `ID` arguments (RFC 2971 §3.3): "(" key SP nstring ... ")" or NIL when there are none. */
export function formatIdList(pairs: readonly (readonly [string, string | null])[]): WireArg {
  if (pairs.length === 0) return { kind: 'nil' };
  const items: WireArg[] = [];
  for (const [k, v] of pairs) {
    items.push({ kind: 'string', value: k }, v === null ? { kind: 'nil' } : { kind: 'string', value: v });
  }
  return { kind: 'list', items };
}

/**
 * The command, split where a synchronizing literal's "+" must be awaited: send part 0, then each
 * next part after the server's continuation. With LITERAL+ there is one part. A part that carries
 * no literal bytes (every part of the usual command) is its text, 7-bit: a socket copies it once,
 * and no Buffer is made for it.
 */
export function formatCommandParts(tag: string, name: string, args: readonly WireArg[], mode: LiteralMode): (string | Buffer)[] {
  if (!TAG_TEXT.test(tag)) throw new ImapWireError('IMAP_WIRE_UNENCODABLE', 'Invalid tag');
  if (!ATOM_TEXT.test(name)) throw new ImapWireError('IMAP_WIRE_UNENCODABLE', 'Invalid command name');
  const parts: (string | Buffer)[] = [];
  /** The part being written, up to `text`. */
  let pending: (string | Buffer)[] = [];
  let text = `${tag} ${name}`;
  const writeArg = (arg: WireArg): void => {
    switch (arg.kind) {
      case 'atom':
        if (!ARG_ATOM_TEXT.test(arg.value)) throw new ImapWireError('IMAP_WIRE_UNENCODABLE', 'Invalid atom');
        text += arg.value;
        return;
      case 'astring':
      case 'string': {
        const enc = arg.kind === 'astring' ? encodeAString(arg.value, mode) : encodeString(arg.value, mode);
        if (enc.kind === 'inline') {
          text += enc.text;
          return;
        }
        pending.push(`${text}${enc.header}\r\n`);
        if (!mode.literalPlus) {
          parts.push(joinChunks(pending));
          pending = [];
        }
        pending.push(enc.bytes);
        text = '';
        return;
      }
      case 'nil':
        text += 'NIL';
        return;
      case 'list':
        text += '(';
        arg.items.forEach((item, i) => {
          if (i > 0) text += ' ';
          writeArg(item);
        });
        text += ')';
        return;
      default: {
        const never: never = arg;
        throw new ImapWireError('IMAP_WIRE_UNENCODABLE', `Unknown argument ${String(never)}`);
      }
    }
  };
  for (const arg of args) {
    text += ' ';
    writeArg(arg);
  }
  pending.push(`${text}\r\n`);
  parts.push(joinChunks(pending));
  return parts;
}

/** The command when no synchronizing literal is needed (always so with LITERAL+): text, or bytes when it carries a literal. */
export function formatCommand(tag: string, name: string, args: readonly WireArg[], mode: LiteralMode = { literalPlus: true }): string | Buffer {
  const parts = formatCommandParts(tag, name, args, mode);
  if (parts.length !== 1) throw new ImapWireError('IMAP_WIRE_SYNC_LITERAL', 'Command needs a synchronizing literal; use formatCommandParts');
  return parts[0]!;
}
