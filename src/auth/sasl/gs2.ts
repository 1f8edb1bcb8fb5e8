/*
 * The GS2 header that SCRAM (RFC 5802 §7) and OAUTHBEARER (RFC 7628 §3.1) start with:
 *   gs2-header     = gs2-cbind-flag "," [ authzid ] ","
 *   gs2-cbind-flag = ("p=" cb-name) / "n" / "y"
 *   authzid        = "a=" saslname   (',' and '=' escaped as =2C and =3D)
 */

export interface Gs2Header {
  /** `p=name` asks for channel binding, which postern does not offer. */
  cbind: { kind: 'n' } | { kind: 'y' } | { kind: 'p'; name: string };
  authzid?: string;
  /** The header as sent, both commas included (SCRAM echoes it in `c=`). */
  raw: string;
  /** Where the rest of the message starts. */
  end: number;
}

/** RFC 5802 §5.1: a '=' not followed by 2C or 3D fails the exchange. Null when invalid. */
export function unescapeSaslname(text: string): string | null {
  if (text.includes(',')) return null;
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c !== '=') {
      out += c;
      continue;
    }
    const code = text.slice(i + 1, i + 3);
    if (code === '2C') out += ',';
    else if (code === '3D') out += '=';
    else return null;
    i += 2;
  }
  return out;
}

export function escapeSaslname(text: string): string {
  return text.replace(/=/g, '=3D').replace(/,/g, '=2C');
}

export function parseGs2Header(text: string): Gs2Header | { error: string } {
  const first = text.indexOf(',');
  if (first < 0) return { error: "missing first ',' in GS2 header" };
  const second = text.indexOf(',', first + 1);
  if (second < 0) return { error: "missing second ',' in GS2 header" };
  const flag = text.slice(0, first);
  let cbind: Gs2Header['cbind'];
  if (flag === 'n' || flag === 'y') cbind = { kind: flag };
  else if (flag.startsWith('p=') && /^[A-Za-z0-9.-]+$/.test(flag.slice(2))) cbind = { kind: 'p', name: flag.slice(2) };
  else return { error: 'invalid GS2 channel-binding flag' };
  const az = text.slice(first + 1, second);
  let authzid: string | undefined;
  if (az !== '') {
    if (!az.startsWith('a=')) return { error: 'invalid authzid field' };
    const u = unescapeSaslname(az.slice(2));
    if (u === null || u === '') return { error: 'invalid authzid escaping' };
    authzid = u;
  }
  return { cbind, ...(authzid !== undefined ? { authzid } : {}), raw: text.slice(0, second + 1), end: second + 1 };
}
