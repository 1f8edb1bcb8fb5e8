import { readFileSync } from 'node:fs';
import { DEFAULT_MIN_VERSION, rootCertificates } from 'node:tls';
import { nativeAddon, type NativeRelay } from './native.js';
import { NATIVE_CIPHERS } from './tls.js';

/** The TLS of a backend connection the relay runs: its context, the SNI name, the name or address its certificate must carry. */
export interface DialTls {
  context: object;
  servername?: string;
  /** Undefined: the certificate is not checked (ssl=any-cert). */
  verifyHost?: string;
}

/** Node trusts the system's store instead of its own bundle: the relay leaves those backends to Node's TLS. */
const NODE_CA_FLAGS = /(^|\s)--use-(openssl|system)-ca(\s|$)/;

/** The CAs tls.connect trusts when given none: Node's bundled roots and NODE_EXTRA_CA_CERTS; undefined when Node uses another store. */
function nodeDefaultCas(): Buffer | undefined {
  if (NODE_CA_FLAGS.test(`${process.execArgv.join(' ')} ${process.env.NODE_OPTIONS ?? ''}`)) return undefined;
  let pem = rootCertificates.join('\n');
  const extra = process.env.NODE_EXTRA_CA_CERTS;
  if (extra) {
    try {
      pem += `\n${readFileSync(extra, 'latin1')}`;
    } catch {
      // Node warns once at start and goes on without it; so does the relay.
    }
  }
  return Buffer.from(pem);
}

/** The contexts of one CA bundle, built on first use: [resuming sessions, not]. null: the relay cannot run it. */
type Contexts = [object | null | undefined, object | null | undefined];
const byCa = new WeakMap<Buffer, Contexts>();
const byDefault: Contexts = [undefined, undefined];

function build(relay: NativeRelay, ca: Buffer | undefined, sessionReuse: boolean): object | null {
  if (!ca) return null;
  try {
    return relay.tlsClientContext({ ca, minVersion: DEFAULT_MIN_VERSION, ...NATIVE_CIPHERS, sessionReuse });
  } catch {
    // A bundle OpenSSL refuses here: Node's TLS gets those backends, and says what is wrong per login.
    return null;
  }
}

/**
 * The relay's client context for backends trusted by `ca` (proxy.ca_file, read once per
 * configuration) or, without one, by the CAs Node trusts; built on first use. With `sessionReuse`
 * (proxy.ssl_session_reuse) it keeps each backend's last session and offers it at the next dial.
 * Undefined when the relay cannot run it: no addon, Node on the system store, a bundle OpenSSL refuses.
 */
export function backendTlsContext(ca: Buffer | undefined, sessionReuse = true): object | undefined {
  const relay = nativeAddon();
  if (!relay) return undefined;
  const i = sessionReuse ? 0 : 1;
  let slot = byDefault;
  if (ca) {
    const known = byCa.get(ca);
    if (known) slot = known;
    else byCa.set(ca, (slot = [undefined, undefined]));
  }
  if (slot[i] === undefined) slot[i] = build(relay, ca ?? nodeDefaultCas(), sessionReuse);
  return slot[i] ?? undefined;
}
