import type { Logger } from '../log/index.js';
import { parseAdminListen, type AdminConfig, type AdminListen } from './config.js';
import { AdminServer } from './http.js';
import type { AdminTarget } from './target.js';
import { adminToken } from './token.js';

/** Where the config's admin section says to listen, a relative socket path read from the config's folder. */
export function adminListen(cfg: AdminConfig, resolvePath: (p: string) => string): AdminListen {
  const w = parseAdminListen(cfg.listen);
  // The schema refused anything else.
  if (w.kind === 'invalid') throw new Error(`admin.listen: ${w.why}`);
  return w.kind === 'unix' ? { kind: 'unix', path: resolvePath(w.path) } : w;
}

/** Reads the token and starts the admin API in front of `target`. */
export async function startAdminServer(cfg: AdminConfig, resolvePath: (p: string) => string, target: AdminTarget, log: Logger): Promise<AdminServer> {
  const server = new AdminServer(adminListen(cfg, resolvePath), target, { token: adminToken(cfg, resolvePath), metricsTokenRequired: cfg.metrics_token_required }, log);
  const addr = await server.listen();
  const where = addr.family === 'unix' ? addr.address : `${addr.address}:${addr.port}`;
  log.info({ event: 'listening', listener: 'admin', protocol: 'http', address: addr.address, port: addr.port }, `admin API listening on ${where}`);
  return server;
}
