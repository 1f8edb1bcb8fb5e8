import { readFileSync } from 'node:fs';
import { adminToken } from '../admin/index.js';
import { AuthCache, createConfiguredAuthenticator, offeredMechanisms, type Authenticator } from '../auth/index.js';
import { configPath, type LoadedConfig } from '../config/index.js';
import { PosternError } from '../core/index.js';
import type { Logger } from '../log/index.js';
import { createServerTls, nativeRelayMissing, type ServerTls } from '../net/index.js';
import { SourceIps } from '../proxy/index.js';

export interface Prepared {
  tls: ServerTls | undefined;
  backendCa: Buffer | undefined;
  authenticator: Authenticator;
  /** The auth cache, when auth.cache_size is not 0. */
  cache: AuthCache | undefined;
  /** auth.mechanisms that the passdbs can verify: what IMAP, POP3 and the auth service offer. */
  mechanisms: string[];
  /** Things that work but are probably not what the operator meant (logged by serve, printed by check). */
  warnings: string[];
}

/**
 * Everything a configuration needs before a port is opened: certificates, the backend CA,
 * the passdbs. `postern check` and a reload run this too, so a file they accept starts.
 * `hooks.onPassdbError` is told of each passdb lookup that fails temporarily (the metrics).
 */
export function prepareServer(loaded: LoadedConfig, log: Logger, hooks: { onPassdbError?: (passdb: string) => void } = {}): Prepared {
  const cfg = loaded.config;
  const resolvePath = (p: string) => configPath(loaded, p);
  for (const lc of cfg.listen) {
    if (lc.tls !== 'none' && !cfg.tls) {
      throw new PosternError('POSTERN_TLS_REQUIRED', `listener ${lc.name ?? `${lc.protocol}:${lc.port}`} uses tls: ${lc.tls} but the configuration has no tls section`);
    }
  }
  const tls: ServerTls | undefined = cfg.tls ? createServerTls(cfg.tls, resolvePath) : undefined;
  if (cfg.admin) adminToken(cfg.admin, resolvePath); // read now, so that `postern check` finds a missing token
  let backendCa: Buffer | undefined;
  if (cfg.proxy.ca_file) {
    try {
      backendCa = readFileSync(resolvePath(cfg.proxy.ca_file));
    } catch (err) {
      throw new PosternError('POSTERN_TLS_FILE', `cannot read proxy.ca_file ${cfg.proxy.ca_file}: ${(err as Error).message}`, { cause: err });
    }
  }
  const a = cfg.auth;
  const cache = a.cache_size > 0 ? new AuthCache({ maxBytes: a.cache_size, ttlMs: a.cache_ttl, negativeTtlMs: a.cache_negative_ttl }) : undefined;
  const deps = { log: log.child({ module: 'auth' }), baseDir: loaded.baseDir, ...(cache ? { cache } : {}), ...(hooks.onPassdbError ? { onPassdbError: hooks.onPassdbError } : {}) };
  const authenticator = createConfiguredAuthenticator(a, deps);
  // Dovecot offers every auth_mechanisms entry; postern only what a passdb can verify.
  const offer = offeredMechanisms(a.mechanisms, a, authenticator, { clientCertificates: tls?.certUsernameField !== undefined }, deps);
  const warnings = offer.unverifiable.map((u) => `auth.mechanisms: ${u.mech} is not offered: ${u.why}`);
  if (cfg.proxy.relay === 'auto' && nativeRelayMissing !== undefined) {
    warnings.push(`proxy.relay: auto, but the native relay is not available (${nativeRelayMissing}): plaintext sessions use the JavaScript pipe`);
  }
  return { tls, backendCa, authenticator, cache, mechanisms: offer.offered, warnings };
}

/**
 * What `postern check` and a reload check before a configuration is used: everything
 * prepareServer builds (then released), and proxy.source_ips resolved and bindable. Returns
 * the warnings; throws a PosternError naming the key on the first fault.
 */
export async function checkServer(loaded: LoadedConfig, log: Logger): Promise<string[]> {
  const prepared = prepareServer(loaded, log);
  await prepared.authenticator.close();
  const ips = loaded.config.proxy.source_ips;
  if (ips.length > 0) await SourceIps.resolve(ips);
  return prepared.warnings;
}
