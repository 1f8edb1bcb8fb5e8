import { lookup as dnsLookup } from 'node:dns/promises';
import { createServer, isIP } from 'node:net';
import { PosternError } from '../core/index.js';

export interface SourceIpResolvers {
  /** Every address of a name (injected in tests). */
  lookup?: (name: string) => Promise<string[]>;
  /** Whether this machine can use the address as a source (injected in tests). */
  usable?: (ip: string) => Promise<boolean>;
}

/** Binds a throwaway socket to the address, as Dovecot's net_try_bind: the kernel knows best what is ours. */
export function canBind(ip: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen({ host: ip, port: 0, exclusive: true }, () => s.close(() => resolve(true)));
  });
}

async function lookupAll(name: string): Promise<string[]> {
  return (await dnsLookup(name, { all: true })).map((a) => a.address);
}

/**
 * Where a backend connection goes and where it comes from, chosen once per login as Dovecot's
 * proxy_start (reconnects use the same pair): the host resolved (a literal address as it is), and
 * the passdb's source_ip, else the next of proxy.source_ips (`pick`) of the resolved address's
 * family. Rejects when the name does not resolve.
 */
export async function backendEndpoint(
  host: string,
  sourceIp: string | undefined,
  pick: ((family: 4 | 6) => string | undefined) | undefined,
  resolve: (host: string) => Promise<string> = async (name) => (await dnsLookup(name)).address,
): Promise<{ address: string; source: string | undefined }> {
  const address = isIP(host) ? host : await resolve(host);
  return { address, source: sourceIp ?? pick?.(isIP(address) === 6 ? 6 : 4) };
}

/**
 * Dovecot's login_source_ips: the addresses backend connects are made from, in turn, one
 * round-robin per address family (an IPv4 backend gets an IPv4 source). An entry is an
 * address or a name; with a `?` in front, only the addresses this machine has are kept
 * (one configuration for several hosts), otherwise each must be usable here.
 */
export class SourceIps {
  readonly #v4: string[];
  readonly #v6: string[];
  #i4 = 0;
  #i6 = 0;

  constructor(addresses: readonly string[]) {
    this.#v4 = addresses.filter((a) => isIP(a) === 4);
    this.#v6 = addresses.filter((a) => isIP(a) === 6);
  }

  static async resolve(entries: readonly string[], r: SourceIpResolvers = {}): Promise<SourceIps> {
    const lookup = r.lookup ?? lookupAll;
    const usable = r.usable ?? canBind;
    const out: string[] = [];
    for (const entry of entries) {
      const optional = entry.startsWith('?');
      const name = optional ? entry.slice(1) : entry;
      let addresses: string[];
      try {
        addresses = isIP(name) ? [name] : await lookup(name);
      } catch (err) {
        throw new PosternError('POSTERN_SOURCE_IP', `proxy.source_ips: cannot resolve ${name}: ${(err as Error).message}`, { cause: err });
      }
      for (const ip of addresses) {
        if (await usable(ip)) out.push(ip);
        else if (!optional) throw new PosternError('POSTERN_SOURCE_IP', `proxy.source_ips: ${ip}${ip !== name ? ` (${name})` : ''} is not an address of this machine; write ?${name} to skip addresses that are not`);
      }
    }
    return new SourceIps([...new Set(out)]);
  }

  /** The next source address for a backend of this family; undefined lets the system choose. Bound: pass it as it is. */
  readonly next = (family: 4 | 6): string | undefined => {
    const list = family === 4 ? this.#v4 : this.#v6;
    if (list.length === 0) return undefined;
    const turn = family === 4 ? this.#i4++ : this.#i6++;
    return list[turn % list.length];
  };

  get addresses(): string[] {
    return [...this.#v4, ...this.#v6];
  }
}
