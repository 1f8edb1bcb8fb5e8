import type { ImapResponse } from './response-reader.js';

/**
 * The capability names in a `[CAPABILITY ...]` code's text, a `* CAPABILITY ...` line, or
 * either with its brackets, "*" and "CAPABILITY" still on. Names keep their case.
 */
export function parseCapabilities(s: string): string[] {
  const words = s.trim().replace(/^\[/, '').replace(/\]$/, '').split(/\s+/).filter((w) => w.length > 0);
  let i = 0;
  if (words[i] === '*') i++;
  if (words[i]?.toUpperCase() === 'CAPABILITY') i++;
  return words.slice(i);
}

/** Capability names compare case-insensitively (RFC 3501 §7.2.1: atoms). */
export function hasCapability(list: readonly string[], name: string): boolean {
  const want = name.toUpperCase();
  return list.some((c) => c.length === want.length && c.toUpperCase() === want);
}

/** The capabilities a response carries, in a resp-code or as `* CAPABILITY`; undefined if none. */
export function capabilitiesOf(r: ImapResponse): string[] | undefined {
  if (r.code === 'CAPABILITY') return parseCapabilities(r.codeText ?? '');
  if (r.untaggedName === 'CAPABILITY') return parseCapabilities(r.text);
  return undefined;
}
