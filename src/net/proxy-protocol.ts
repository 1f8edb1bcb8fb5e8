/**
 * The PROXY protocol header (HAProxy's proxy-protocol.txt, versions 1 and 2), decoded with no I/O:
 * a load balancer in front of postern sends it first, so the real client address survives.
 */

export interface ProxyEndpoint {
  ip: string;
  port: number;
}

export type ProxyHeader =
  /** PROXY (v1 TCP4/TCP6, v2 PROXY over TCP): the client and the address it connected to. */
  | { kind: 'proxied'; version: 1 | 2; source: ProxyEndpoint; destination: ProxyEndpoint; length: number; tlvs: ReadonlyMap<number, Buffer> }
  /** v1 UNKNOWN, v2 LOCAL or a family we do not route (UNIX, UNSPEC): keep the connection's own addresses. */
  | { kind: 'local'; version: 1 | 2; length: number };

export type ProxyDecode = { kind: 'needMore' } | { kind: 'header'; header: ProxyHeader } | { kind: 'error'; message: string };

const V2_SIGNATURE = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
const V1_PREFIX = Buffer.from('PROXY ');
/** Section 2.1: a v1 line is at most 107 bytes with its CRLF. */
const V1_MAX_BYTES = 107;
/** Enough for addresses and the TLVs a load balancer sends; the spec allows 64 KiB, we need far less. */
export const V2_MAX_BYTES = 16 + 2048;

const NEED_MORE: ProxyDecode = { kind: 'needMore' };
const fail = (message: string): ProxyDecode => ({ kind: 'error', message });

/** Reads the header at the start of `buf`. `length` in the result is how many bytes it took. */
export function decodeProxyHeader(buf: Buffer): ProxyDecode {
  if (buf.length === 0) return NEED_MORE;
  if (buf[0] === V2_SIGNATURE[0] && buf.length > 1 && buf[1] === V2_SIGNATURE[1] && buf.length > 2 && buf[2] === V2_SIGNATURE[2]) return decodeV2(buf);
  if (buf[0] === 0x0d) return buf.length < 3 ? NEED_MORE : fail('not a PROXY protocol header');
  return decodeV1(buf);
}

function decodeV1(buf: Buffer): ProxyDecode {
  const prefixLen = Math.min(buf.length, V1_PREFIX.length);
  if (!buf.subarray(0, prefixLen).equals(V1_PREFIX.subarray(0, prefixLen))) return fail('not a PROXY protocol header');
  const end = buf.indexOf('\r\n');
  if (end < 0) return buf.length >= V1_MAX_BYTES ? fail('PROXY v1 line too long') : NEED_MORE;
  if (end + 2 > V1_MAX_BYTES) return fail('PROXY v1 line too long');
  const parts = buf.subarray(0, end).toString('latin1').split(' ');
  const length = end + 2;
  if (parts[1] === 'UNKNOWN') return { kind: 'header', header: { kind: 'local', version: 1, length } };
  if (parts.length !== 6) return fail('PROXY v1 line malformed');
  const [, proto, srcIp, dstIp, srcPort, dstPort] = parts as [string, string, string, string, string, string];
  const family = proto === 'TCP4' ? 4 : proto === 'TCP6' ? 6 : 0;
  if (family === 0) return fail(`PROXY v1 protocol ${proto} unknown`);
  const ok4 = (ip: string) => /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/.test(ip);
  const ok6 = (ip: string) => /^[0-9a-fA-F:.]{2,45}$/.test(ip) && ip.includes(':');
  const okIp = family === 4 ? ok4 : ok6;
  const port = (p: string) => (/^(0|[1-9]\d{0,4})$/.test(p) && Number(p) <= 65535 ? Number(p) : -1);
  const sp = port(srcPort);
  const dp = port(dstPort);
  if (!okIp(srcIp) || !okIp(dstIp) || sp < 0 || dp < 0) return fail('PROXY v1 address or port malformed');
  return { kind: 'header', header: { kind: 'proxied', version: 1, source: { ip: srcIp, port: sp }, destination: { ip: dstIp, port: dp }, length, tlvs: new Map() } };
}

function ipv6(b: Buffer): string {
  // An IPv4 client behind a dual-stack balancer: written the way Node writes it, then normalizeIp() folds it.
  if (b.subarray(0, 10).every((x) => x === 0) && b.readUInt16BE(10) === 0xffff) return `::ffff:${[...b.subarray(12, 16)].join('.')}`;
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(b.readUInt16BE(i).toString(16));
  // The shortest form (RFC 5952), so logs and network checks agree with Node's own addresses.
  const text = groups.join(':');
  const runs = [...text.matchAll(/(?:^|:)0(?::0)+(?::|$)/g)];
  if (runs.length === 0) return text;
  const longest = runs.reduce((a, m) => (m[0].length > a[0].length ? m : a));
  return `${text.slice(0, longest.index)}::${text.slice(longest.index + longest[0].length)}`;
}

function decodeV2(buf: Buffer): ProxyDecode {
  const sigLen = Math.min(buf.length, V2_SIGNATURE.length);
  if (!buf.subarray(0, sigLen).equals(V2_SIGNATURE.subarray(0, sigLen))) return fail('not a PROXY protocol header');
  if (buf.length < 16) return NEED_MORE;
  const verCmd = buf[12]!;
  if (verCmd >> 4 !== 2) return fail(`PROXY v2 version ${verCmd >> 4} unknown`);
  const command = verCmd & 0x0f;
  if (command > 1) return fail(`PROXY v2 command ${command} unknown`);
  const fam = buf[13]!;
  const len = buf.readUInt16BE(14);
  const length = 16 + len;
  if (length > V2_MAX_BYTES) return fail('PROXY v2 header too long');
  if (buf.length < length) return NEED_MORE;
  // LOCAL: health checks from the balancer itself; the addresses, if any, are to be ignored.
  if (command === 0) return { kind: 'header', header: { kind: 'local', version: 2, length } };
  const body = buf.subarray(16, length);
  let source: ProxyEndpoint;
  let destination: ProxyEndpoint;
  let addrLen: number;
  switch (fam) {
    case 0x11: // TCP over IPv4
    case 0x12: // UDP over IPv4
      addrLen = 12;
      if (body.length < addrLen) return fail('PROXY v2 IPv4 addresses truncated');
      source = { ip: [...body.subarray(0, 4)].join('.'), port: body.readUInt16BE(8) };
      destination = { ip: [...body.subarray(4, 8)].join('.'), port: body.readUInt16BE(10) };
      break;
    case 0x21:
    case 0x22:
      addrLen = 36;
      if (body.length < addrLen) return fail('PROXY v2 IPv6 addresses truncated');
      source = { ip: ipv6(body.subarray(0, 16)), port: body.readUInt16BE(32) };
      destination = { ip: ipv6(body.subarray(16, 32)), port: body.readUInt16BE(34) };
      break;
    default:
      // UNSPEC or UNIX: nothing we can route by; keep the connection's own addresses.
      return { kind: 'header', header: { kind: 'local', version: 2, length } };
  }
  const tlvs = new Map<number, Buffer>();
  let at = addrLen;
  while (at < body.length) {
    if (body.length - at < 3) return fail('PROXY v2 TLV truncated');
    const type = body[at]!;
    const tlen = body.readUInt16BE(at + 1);
    if (at + 3 + tlen > body.length) return fail('PROXY v2 TLV truncated');
    tlvs.set(type, body.subarray(at + 3, at + 3 + tlen));
    at += 3 + tlen;
  }
  return { kind: 'header', header: { kind: 'proxied', version: 2, source, destination, length, tlvs } };
}

/** Encodes a v2 header (for tests and for a postern in front of another PROXY-aware server). */
export function encodeProxyV2(source: ProxyEndpoint, destination: ProxyEndpoint): Buffer {
  const v6 = source.ip.includes(':');
  const addr = Buffer.alloc(v6 ? 36 : 12);
  const put = (ip: string, at: number) => {
    if (!v6) ip.split('.').forEach((o, i) => addr.writeUInt8(Number(o), at + i));
    else {
      const [head = '', tail = ''] = ip.split('::');
      const h = head ? head.split(':') : [];
      const t = ip.includes('::') ? (tail ? tail.split(':') : []) : [];
      const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : ip.split(':');
      groups.forEach((g, i) => addr.writeUInt16BE(parseInt(g, 16), at + i * 2));
    }
  };
  put(source.ip, 0);
  put(destination.ip, v6 ? 16 : 4);
  addr.writeUInt16BE(source.port, v6 ? 32 : 8);
  addr.writeUInt16BE(destination.port, v6 ? 34 : 10);
  const head = Buffer.alloc(4);
  head[0] = 0x21;
  head[1] = v6 ? 0x21 : 0x11;
  head.writeUInt16BE(addr.length, 2);
  return Buffer.concat([V2_SIGNATURE, head, addr]);
}
