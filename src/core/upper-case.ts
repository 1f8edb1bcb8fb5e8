/**
 * `s.toUpperCase()`, without its cost when there is nothing to fold. V8 folds case through its
 * runtime (ICU) on every call, allocating a new string; the protocol words it is asked for here
 * (commands, status words, capabilities, mechanisms) are almost always upper-case already.
 */
export function upperCase(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if ((c >= 0x61 && c <= 0x7a) || c > 0x7f) return s.toUpperCase();
  }
  return s;
}
