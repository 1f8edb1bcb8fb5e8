/**
 * XCLIENT towards a trusted backend (Postfix XCLIENT_README, Dovecot lmtp-proxy.c): only the
 * attributes the backend lists in its LHLO reply, in Dovecot's order (reference 2.3).
 */
export const XCLIENT_ORDER = ['HELO', 'PROTO', 'LOGIN', 'SESSION', 'CLIENT-TRANSPORT', 'DESTNAME', 'TTL', 'TIMEOUT', 'PORT', 'ADDR', 'DESTPORT', 'DESTADDR'] as const;
export type XclientAttr = (typeof XCLIENT_ORDER)[number];

/** Dovecot splits XCLIENT commands longer than this. */
const MAX_XCLIENT_LINE = 512;

/** xtext (RFC 3461 §4): "+" and "=" and anything outside "!".."~" become "+XX". */
export function xtext(value: string): string {
  let out = '';
  for (const byte of Buffer.from(value, 'utf8')) {
    out += byte >= 0x21 && byte <= 0x7e && byte !== 0x2b && byte !== 0x3d ? String.fromCharCode(byte) : `+${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * The XCLIENT command lines for a backend whose LHLO reply has `XCLIENT <attrs>`; none when it
 * has no XCLIENT line. ADDR goes without Postfix's "IPV6:" prefix, as Dovecot sends it for LMTP.
 */
export function xclientCommands(lhloLines: readonly string[], values: Partial<Record<XclientAttr, string>>): string[] {
  const line = lhloLines.slice(1).find((l) => /^XCLIENT(?: |$)/i.test(l));
  if (line === undefined) return [];
  const offered = new Set(line.split(' ').slice(1).map((a) => a.toUpperCase()));
  const params = XCLIENT_ORDER.filter((a) => offered.has(a) && values[a] !== undefined).map((a) => `${a}=${xtext(values[a]!)}`);
  const out: string[] = [];
  let cur = 'XCLIENT';
  for (const p of params) {
    if (cur !== 'XCLIENT' && cur.length + 1 + p.length > MAX_XCLIENT_LINE) {
      out.push(cur);
      cur = 'XCLIENT';
    }
    cur += ` ${p}`;
  }
  if (cur !== 'XCLIENT') out.push(cur);
  return out;
}
