import { BlockList, isIP } from 'node:net';
import { networkInterfaces } from 'node:os';

/** `::ffff:1.2.3.4` as `1.2.3.4`, so logs, ID fields and network checks agree. */
export function normalizeIp(ip: string | undefined): string {
  if (!ip) return '';
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

export function ipFamily(ip: string): 'ipv4' | 'ipv6' {
  return isIP(ip) === 6 ? 'ipv6' : 'ipv4';
}

/** A set of networks (`10.0.0.0/8`, `::1`, `192.0.2.7`). */
export class NetworkList {
  readonly #list = new BlockList();
  readonly #empty: boolean;
  constructor(cidrs: readonly string[]) {
    for (const cidr of cidrs) {
      const [addr = '', bits] = cidr.split('/');
      const family = ipFamily(addr);
      if (bits === undefined) this.#list.addAddress(addr, family);
      else this.#list.addSubnet(addr, Number(bits), family);
    }
    this.#empty = cidrs.length === 0;
  }
  has(ip: string): boolean {
    if (this.#empty || isIP(ip) === 0) return false;
    return this.#list.check(ip, ipFamily(ip));
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
