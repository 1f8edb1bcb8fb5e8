import { hkdfSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createSecureContext, DEFAULT_CIPHERS, type SecureContext, type TLSSocket, type TLSSocketOptions, type TlsOptions } from 'node:tls';
import { PosternError } from '../core/index.js';
import type { TlsConfig } from './config.js';
import { nativeAddon } from './native.js';

/** How long a client's TLS handshake may take: implicit TLS on every listener, and after STARTTLS/STLS. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 30_000;

/**
 * Settles when the server handshake of `secure` (a Node TLSSocket) is over. On its error, or when it
 * takes longer than `timeoutMs`, `onFail` runs, the socket is destroyed and the promise rejects.
 */
export function serverHandshake(secure: TLSSocket, timeoutMs: number, onFail: () => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new PosternError('POSTERN_TLS_HANDSHAKE', 'TLS handshake timed out')), timeoutMs);
    const fail = (err: Error) => {
      clearTimeout(timer);
      onFail();
      secure.destroy();
      reject(err);
    };
    secure.once('error', fail);
    secure.once('secure', () => {
      clearTimeout(timer);
      secure.off('error', fail);
      resolve();
    });
  });
}

export interface ServerTls {
  /** Options for tls.createServer and server-side TLSSocket: default context plus SNI. */
  options: TlsOptions;
  /**
   * For a TLSSocket made on an open connection (STARTTLS, implicit TLS after a PROXY header): the
   * same, with the context built once. Without it each upgrade would parse the certificate and key
   * again (about 1.5 ms of CPU).
   */
  socketOptions: TLSSocketOptions;
  /** Set when client certificates are asked for (tls.client_ca): the subject attribute that names the user. */
  certUsernameField?: string;
  /** Told of each client handshake that fails (implicit TLS and STARTTLS), with the listener's label: metrics. */
  onHandshakeFailed?: (listener: string) => void;
  /**
   * The same certificates as a context of the native relay (native/tls.c), built on first use, for
   * connections it accepted: undefined without the addon, or when client certificates are asked for
   * (Node's TLS checks those). Throws POSTERN_TLS_NATIVE when OpenSSL refuses what Node took.
   */
  nativeContext: () => object | undefined;
}

function readPem(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new PosternError('POSTERN_TLS_FILE', `cannot read ${what} ${path}: ${(err as Error).message}`, { cause: err });
  }
}

const TICKET_KEYS_BYTES = 48;
/** One session context for implicit TLS, STARTTLS and SNI alike (OpenSSL resumes only within the same one). */
const SESSION_ID_CONTEXT = 'postern';

/**
 * The session ticket keys (48 bytes: name, HMAC and AES keys) of this node: from
 * tls.ticket_key_file, else the ones the primary made at start (kept in the environment its
 * workers inherit), else made now. Every context of every worker shares them, and a reload keeps
 * them, so a client resumes its TLS session whichever worker accepts it.
 */
export function ticketKeys(file: string | undefined): Buffer {
  if (file !== undefined) {
    const keys = readPem(file, 'ticket key file');
    if (keys.length !== TICKET_KEYS_BYTES) {
      throw new PosternError('POSTERN_TLS_INVALID', `ticket key file ${file} holds ${keys.length} bytes; expected ${TICKET_KEYS_BYTES} random bytes (openssl rand 48 > ${file})`);
    }
    return keys;
  }
  // The primary's keys reach its workers through the environment they inherit.
  const made = process.env.POSTERN_TLS_TICKET_KEYS;
  if (made !== undefined && /^[0-9a-f]{96}$/.test(made)) return Buffer.from(made, 'hex');
  const keys = randomBytes(TICKET_KEYS_BYTES);
  process.env.POSTERN_TLS_TICKET_KEYS = keys.toString('hex');
  return keys;
}

/** A certificate and its key, read from their files once. */
interface KeyPair {
  cert: Buffer;
  key: Buffer;
  /** The files, for messages. */
  certPath: string;
  keyPath: string;
}

function readKeyPair(certPath: string, keyPath: string): KeyPair {
  return { cert: readPem(certPath, 'certificate'), key: readPem(keyPath, 'key'), certPath, keyPath };
}

function context(pair: KeyPair, minVersion: TlsConfig['min_version'], ca: Buffer | undefined, keys: Buffer): SecureContext {
  try {
    return createSecureContext({ cert: pair.cert, key: pair.key, minVersion, ticketKeys: keys, sessionIdContext: SESSION_ID_CONTEXT, ...(ca ? { ca } : {}) });
  } catch (err) {
    throw new PosternError('POSTERN_TLS_INVALID', `cannot use certificate ${pair.certPath} with key ${pair.keyPath}: ${(err as Error).message}`, { cause: err });
  }
}

/** `*.example.org` matches exactly one label, as RFC 6125 wildcards do. */
export function serverNameMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (!p.startsWith('*.')) return p === n;
  const dot = n.indexOf('.');
  return dot > 0 && n.slice(dot + 1) === p.slice(2);
}

/**
 * The native relay's own ticket keys (OpenSSL's 80 bytes), derived from the node's 48: every worker
 * derives the same, so the relay's tickets resume on any worker. (Node's contexts use the 48 bytes
 * another way: a ticket of one kind starts a full handshake on the other.)
 */
function nativeTicketKeys(keys: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', keys, Buffer.alloc(0), 'postern native tls tickets', 80));
}

/** Node's default cipher list, as OpenSSL takes it: TLS 1.3 suites apart from the rest. */
export const NATIVE_CIPHERS = {
  ciphersuites: DEFAULT_CIPHERS.split(':').filter((c) => c.startsWith('TLS_')).join(':'),
  ciphers: DEFAULT_CIPHERS.split(':').filter((c) => !c.startsWith('TLS_')).join(':'),
};

/** Loads every certificate once; SNI picks among them per connection. */
export function createServerTls(cfg: TlsConfig, resolvePath: (p: string) => string): ServerTls {
  // Client certificates are asked for, not required: the handshake goes on and `authorized` tells.
  const ca = cfg.client_ca !== undefined ? readPem(resolvePath(cfg.client_ca), 'client CA file') : undefined;
  const keys = ticketKeys(cfg.ticket_key_file !== undefined ? resolvePath(cfg.ticket_key_file) : undefined);
  const sniPairs = cfg.sni.map((entry) => ({ names: entry.names, pair: readKeyPair(resolvePath(entry.cert), resolvePath(entry.key)) }));
  const byName = sniPairs.map(({ names, pair }) => ({ names, ctx: context(pair, cfg.min_version, ca, keys) }));
  const pair = readKeyPair(resolvePath(cfg.cert), resolvePath(cfg.key));
  // Also fails at start when the key does not match the certificate.
  const secureContext = context(pair, cfg.min_version, ca, keys);
  const SNICallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void) => {
    const hit = byName.find((e) => e.names.some((n) => serverNameMatches(n, servername)));
    cb(null, hit?.ctx);
  };
  const clientCerts = ca ? { requestCert: true, rejectUnauthorized: false } : {};
  let native: { ctx: object } | { err: Error } | undefined;
  const nativeContext = (): object | undefined => {
    const relay = nativeAddon();
    if (ca || !relay) return undefined;
    if (!native) {
      try {
        const sni = sniPairs.map(({ names, pair: p }) => ({ names, cert: p.cert, key: p.key }));
        native = { ctx: relay.tlsContext({ cert: pair.cert, key: pair.key, minVersion: cfg.min_version, ticketKeys: nativeTicketKeys(keys), ...NATIVE_CIPHERS, sni }) };
      } catch (err) {
        native = { err: new PosternError('POSTERN_TLS_NATIVE', `the native relay cannot use certificate ${pair.certPath} or an sni one: ${(err as Error).message}`, { cause: err }) };
      }
    }
    if ('err' in native) throw native.err;
    return native.ctx;
  };
  return {
    nativeContext,
    ...(ca ? { certUsernameField: cfg.cert_username_field } : {}),
    options: { cert: pair.cert, key: pair.key, minVersion: cfg.min_version, ticketKeys: keys, sessionIdContext: SESSION_ID_CONTEXT, ...(ca ? { ca } : {}), ...clientCerts, SNICallback },
    socketOptions: { secureContext, ...clientCerts, SNICallback },
  };
}
