import type { Logger } from '../log/index.js';
import { listeningAt } from '../net/index.js';
import { parseAdminListen, type AdminConfig, type AdminListen } from './config.js';
import type { AdminAuth } from './handler.js';
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

function adminAuth(cfg: AdminConfig, resolvePath: (p: string) => string): AdminAuth {
  return { token: adminToken(cfg, resolvePath), metricsTokenRequired: cfg.metrics_token_required };
}

async function listenAt(where: AdminListen, auth: AdminAuth, target: AdminTarget, log: Logger): Promise<AdminServer> {
  const server = new AdminServer(where, target, auth, log);
  const addr = await server.listen();
  log.info({ event: 'listening', listener: 'admin', protocol: 'http', address: addr.address, port: addr.port }, `admin API listening on ${listeningAt(addr)}`);
  return server;
}

/** Reads the token and starts the admin API in front of `target`. */
export function startAdminServer(cfg: AdminConfig, resolvePath: (p: string) => string, target: AdminTarget, log: Logger): Promise<AdminServer> {
  return listenAt(adminListen(cfg, resolvePath), adminAuth(cfg, resolvePath), target, log);
}

/**
 * The admin API after a reload, once the rest of the configuration is in force. The token is read
 * again (from `token_file` or `token_env` too, so rotating it is a write and a reload) and, with
 * `metrics_token_required`, applies from the next request. A new `listen` opens there first; then the
 * old address closes, answering a request under way (a `POST /reload` gets its answer). A section
 * removed closes the API; one added opens (its counters start with that reload). Nothing here
 * refuses the reload: a token that cannot be read or an address that cannot be bound leaves the API
 * as it was, said in an `admin_reload_failed` line.
 */
export async function reloadAdminServer(
  server: AdminServer | undefined,
  was: AdminConfig | undefined,
  next: AdminConfig | undefined,
  resolvePath: (p: string) => string,
  target: AdminTarget,
  log: Logger,
): Promise<AdminServer | undefined> {
  if (next === undefined) {
    if (server === undefined) return undefined;
    // Not awaited: close() waits for requests under way, and the POST /reload that got here may be one.
    void server.close();
    log.info({ event: 'admin_closed' }, 'admin: removed from the configuration: the admin API is closed');
    return undefined;
  }
  const failed = (err: unknown, keeps: string) => {
    const why = (err as Error).message;
    log.error({ event: 'admin_reload_failed', err: why }, `the admin API ${keeps}: ${why}`);
    return server;
  };
  if (server === undefined || was === undefined) {
    try {
      return await startAdminServer(next, resolvePath, target, log);
    } catch (err) {
      return failed(err, 'added by the reload cannot open');
    }
  }
  let auth: AdminAuth;
  try {
    auth = adminAuth(next, resolvePath);
  } catch (err) {
    return failed(err, 'keeps its previous token and address');
  }
  // The same file, so a relative socket path names the same place in both.
  if (next.listen === was.listen) {
    server.setAuth(auth);
    return server;
  }
  const from = listeningAt(server.address());
  let moved: AdminServer;
  try {
    moved = await listenAt(adminListen(next, resolvePath), auth, target, log);
  } catch (err) {
    return failed(err, `keeps its previous token and address ${from}`);
  }
  const to = listeningAt(moved.address());
  log.info({ event: 'admin_moved', from, to }, `admin API moved from ${from} to ${to}`);
  void server.close();
  return moved;
}
