/*
 * Escaping of request variables put into LDAP filters and DNs, so that a user name
 * can only ever be a value, never syntax. No I/O here.
 */

const hex = (byte: number): string => `\\${byte.toString(16).padStart(2, '0')}`;

/**
 * RFC 4515 section 3: in an assertion value `*`, `(`, `)`, `\` and NUL must be
 * written as `\XX`. Other characters, UTF-8 included, go as they are (Dovecot's
 * ldap_escape also hex-escapes bytes >= 0x80; on the wire that is the same value).
 */
export function escapeFilterValue(value: string): string {
  return value.replace(/[*()\\\0]/g, (c) => hex(c.charCodeAt(0)));
}

/**
 * RFC 4514 section 2.4: in an attribute value of a DN, `"+,;<>\` and NUL anywhere,
 * a leading space or `#` and a trailing space must be escaped. `=` is escaped too:
 * harmless, and some servers' parsers are happier for it (Dovecot escapes it as well).
 */
export function escapeDnValue(value: string): string {
  let out = value.replace(/["+,;<>\\=\0]/g, (c) => hex(c.charCodeAt(0)));
  if (out.startsWith(' ') || out.startsWith('#')) out = hex(out.charCodeAt(0)) + out.slice(1);
  if (out.endsWith(' ')) out = `${out.slice(0, -1)}${hex(0x20)}`;
  return out;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * ldapts turns each `\XX` of a filter into one UTF-16 unit and then encodes the value
 * as UTF-8, so `\c3\a9` written in a template would reach the server as four bytes.
 * Runs of escaped bytes >= 0x80 that form valid UTF-8 are given to it decoded instead,
 * which is the same value on the wire. Other escapes are left for ldapts.
 */
export function filterForLdapts(filter: string): string {
  return filter.replace(/(?:\\[0-9a-fA-F]{2})+/g, (run) => {
    const bytes = Buffer.from(run.replaceAll('\\', ''), 'hex');
    if (bytes.every((b) => b < 0x80)) return run;
    const parts: string[] = [];
    // Keep ASCII escapes (they may be `\2a` and friends) and decode each high run.
    let i = 0;
    while (i < bytes.length) {
      if (bytes[i]! < 0x80) {
        parts.push(hex(bytes[i]!));
        i++;
        continue;
      }
      let j = i;
      while (j < bytes.length && bytes[j]! >= 0x80) j++;
      const high = bytes.subarray(i, j);
      try {
        parts.push(utf8.decode(high));
      } catch {
        parts.push(Array.from(high, hex).join(''));
      }
      i = j;
    }
    return parts.join('');
  });
}
