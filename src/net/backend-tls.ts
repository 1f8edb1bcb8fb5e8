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

const byCa = new WeakMap<Buffer, object | null>();
let byDefault: object | null | undefined;

function build(relay: NativeRelay, ca: Buffer | undefined): object | null {
  if (!ca) return null;
  try {
    return relay.tlsClientContext({ ca, minVersion: DEFAULT_MIN_VERSION, ...NATIVE_CIPHERS });
  } catch {
    // A bundle OpenSSL refuses here: Node's TLS gets those backends, and says what is wrong per login.
    return null;
  }
}

/**
 * The relay's client context for backends trusted by `ca` (proxy.ca_file, read once per
 * configuration) or, without one, by the CAs Node trusts; built on first use. Undefined when the
 * relay cannot run it: no addon, Node on the system store, a bundle OpenSSL refuses.
 */
export function backendTlsContext(ca: Buffer | undefined): object | undefined {
  const relay = nativeAddon();
  if (!relay) return undefined;
  if (ca) {
    let ctx = byCa.get(ca);
    if (ctx === undefined) byCa.set(ca, (ctx = build(relay, ca)));
    return ctx ?? undefined;
  }
  byDefault ??= build(relay, nodeDefaultCas());
  return byDefault ?? undefined;
}
