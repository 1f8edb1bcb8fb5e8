import { upperCase } from '../../core/index.js';

/**
 * The capability names in a `[CAPABILITY ...]` code's text, a `* CAPABILITY ...` line, or
 * either with its brackets, "*" and "CAPABILITY" still on. Names keep their case.
 */
export function parseCapabilities(s: string): string[] {
  let text = s.trim();
  if (text.startsWith('[')) text = text.slice(1);
  if (text.endsWith(']')) text = text.slice(0, -1);
  // A string separator splits without the regular-expression engine; tabs are rare and read as spaces.
  if (text.includes('\t')) text = text.replaceAll('\t', ' ');
  const words = text.split(' ').filter((w) => w.length > 0);
  let i = 0;
  if (words[i] === '*') i++;
  if (words[i] !== undefined && upperCase(words[i]!) === 'CAPABILITY') i++;
  return i === 0 ? words : words.slice(i);
}

/**
 * The names of `parseCapabilities(s)` joined by single spaces, as a capability line carries them on to
 * the client. A backend's list is usually that already (no brackets, no `CAPABILITY`, one space
 * between names): then it is the text itself, not split and joined again.
 */
export function capabilityText(s: string): string {
  if (s.trim() !== s || s.startsWith('[') || s.startsWith('*') || s.endsWith(']') || s.includes('  ') || s.includes('\t')) return parseCapabilities(s).join(' ');
  const space = s.indexOf(' ');
  return upperCase(space < 0 ? s : s.slice(0, space)) === 'CAPABILITY' ? parseCapabilities(s).join(' ') : s;
}

/**
 * Whether a capability text (names separated by single spaces, as `capabilityText` gives it) names
 * `name`; names compare case-insensitively (RFC 3501 §7.2.1: atoms). Reads the text in place.
 */
export function hasCapability(caps: string, name: string): boolean {
  const want = upperCase(name);
  for (let start = 0; start < caps.length; ) {
    let end = caps.indexOf(' ', start);
    if (end < 0) end = caps.length;
    if (end - start === want.length && upperCase(caps.slice(start, end)) === want) return true;
    start = end + 1;
  }
  return false;
}
