/**
 * Byte classes of RFC 3501 §9 (unchanged in RFC 9051 §9), as lookup tables.
 *   atom-specials = "(" / ")" / "{" / SP / CTL / list-wildcards / quoted-specials / resp-specials
 */
export const SP = 0x20;
export const CR = 0x0d;
export const LF = 0x0a;
export const DQUOTE = 0x22;
export const BACKSLASH = 0x5c;
export const LPAREN = 0x28;
export const RPAREN = 0x29;
export const LBRACE = 0x7b;
export const RBRACE = 0x7d;
export const PLUS = 0x2b;
export const TILDE = 0x7e;

function table(accept: (b: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) t[b] = accept(b) ? 1 : 0;
  return t;
}

const isChar7 = (b: number): boolean => b >= 0x21 && b <= 0x7e; // CHAR minus SP and CTL
const ATOM_SPECIALS = new Set([...'(){%*"\\]'].map((c) => c.charCodeAt(0)));

/** ATOM-CHAR. */
export const ATOM_CHAR = table((b) => isChar7(b) && !ATOM_SPECIALS.has(b));
/** ASTRING-CHAR = ATOM-CHAR / resp-specials. */
export const ASTRING_CHAR = table((b) => ATOM_CHAR[b] === 1 || b === 0x5d);
/** tag = 1*<any ASTRING-CHAR except "+">. */
export const TAG_CHAR = table((b) => ASTRING_CHAR[b] === 1 && b !== PLUS);
/**
 * What the reader accepts inside an argument atom. Like Dovecot's parser it is wider than
 * ATOM-CHAR: list-wildcards (LIST patterns), "\" (flags) and "]" (astrings) are let through;
 * only the bytes that start another token or end the line are refused.
 */
export const ARG_ATOM_CHAR = table((b) => isChar7(b) && b !== LPAREN && b !== RPAREN && b !== LBRACE && b !== DQUOTE);

/** A pattern for strings of one or more of the class's 7-bit characters: a string is checked without making it bytes. */
export function textOf(cls: Uint8Array): RegExp {
  let set = '';
  for (let b = 0; b < 0x80; b++) if (cls[b] === 1) set += `\\x${b.toString(16).padStart(2, '0')}`;
  return new RegExp(`^[${set}]+$`);
}

export function allIn(cls: Uint8Array, bytes: Buffer, from = 0, to = bytes.length): boolean {
  for (let i = from; i < to; i++) if (cls[bytes[i]!] !== 1) return false;
  return true;
}

/** More digits than this cannot be a size we accept; stops the number before it loses precision. */
export const MAX_SIZE_DIGITS = 15;

/**
 * The literal header that ends a line we are skipping, if any: an error mid-line must not
 * make us read a LITERAL+ literal's bytes as commands. Looks only at the line's last bytes.
 * The response reader uses it too: a data line ending in "{n}" continues after n bytes.
 */
export function trailingLiteral(lineEnd: Buffer): { size: number; sync: boolean } | undefined {
  let p = lineEnd.length - 1;
  if (lineEnd[p] !== RBRACE) return undefined;
  p--;
  const sync = lineEnd[p] !== PLUS;
  if (!sync) p--;
  const lastDigit = p;
  while (p >= 0 && lineEnd[p]! >= 0x30 && lineEnd[p]! <= 0x39) p--;
  if (p === lastDigit || lineEnd[p] !== LBRACE) return undefined;
  const digits = lastDigit - p;
  const size = digits > MAX_SIZE_DIGITS ? Number.POSITIVE_INFINITY : Number(lineEnd.toString('latin1', p + 1, lastDigit + 1));
  return { size, sync };
}
