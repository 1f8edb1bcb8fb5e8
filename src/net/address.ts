import { BlockList, isIP, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';

/** `::ffff:1.2.3.4` as `1.2.3.4`, so logs, ID fields and network checks agree. */
export function normalizeIp(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

export function ipFamily(ip: string): 'ipv4' | 'ipv6' {
  return isIP(ip) === 6 ? 'ipv6' : 'ipv4';
}

/** Dotted quad (1 to 3 digits a part) as an unsigned integer; read character by character, as it runs several times a login. */
function ipv4ToInt(ip: string): number | undefined {
  let n = 0;
  let part = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (++digits > 3) return undefined;
      part = part * 10 + (c - 48);
    } else if (c === 46 && digits > 0 && dots < 3) {
      if (part > 255) return undefined;
      n = n * 256 + part;
      part = 0;
      digits = 0;
      dots++;
    } else {
      return undefined;
    }
  }
  if (dots !== 3 || digits === 0 || part > 255) return undefined;
  return n * 256 + part;
}

/**
 * A set of networks (`10.0.0.0/8`, `::1`, `192.0.2.7`). IPv4 is checked on integers: this runs on
 * every login, and BlockList builds address objects for each check. IPv6 goes through BlockList.
 */
export class NetworkList {
  readonly #v4: Array<{ base: number; mask: number }> = [];
  readonly #v6 = new BlockList();
  #hasV6 = false;
  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [addr = '', bits] = cidr.split('/');
      if (ipFamily(addr) === 'ipv4') {
        const prefix = bits === undefined ? 32 : Number(bits);
        const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
        this.#v4.push({ base: ((ipv4ToInt(addr) ?? 0) & mask) >>> 0, mask });
      } else {
        this.#hasV6 = true;
        if (bits === undefined) this.#v6.addAddress(addr, 'ipv6');
        else this.#v6.addSubnet(addr, Number(bits), 'ipv6');
      }
    }
  }
  has(ip: string): boolean {
    const n = ipv4ToInt(ip);
    if (n !== undefined) return this.#v4.some((r) => ((n & r.mask) >>> 0) === r.base);
    return this.#hasV6 && isIP(ip) === 6 && this.#v6.check(ip, 'ipv6');
  }
}

const LOOPBACK = new NetworkList(['127.0.0.0/8', '::1']);

export function isLoopback(ip: string): boolean {
  return LOOPBACK.has(ip);
}

/** Addresses of this machine: a backend there on one of our own ports is a loop. */
export function localAddresses(): Set<string> {
  const out = new Set<string>(['127.0.0.1', '::1', '0.0.0.0', '::']);
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) out.add(normalizeIp(a.address));
  }
  return out;
}

/** Where a server listens, for a log line: `host:port`, or the path of a unix socket. */
export function listeningAt(addr: AddressInfo): string {
  return addr.family === 'unix' ? addr.address : `${addr.address}:${addr.port}`;
}
