import { readFileSync } from 'node:fs';
import { PosternError, Secret } from '../core/index.js';
import type { AdminConfig } from './config.js';

const MIN_TOKEN_CHARS = 16;

/** The admin token from `token`, `token_file` or `token_env`; read at start (and by the CLI verbs). */
export function adminToken(cfg: AdminConfig, resolvePath: (p: string) => string, env: NodeJS.ProcessEnv = process.env): Secret {
  let value: string;
  let from: string;
  if (cfg.token !== undefined) {
    value = cfg.token;
    from = 'admin.token';
  } else if (cfg.token_file !== undefined) {
    const path = resolvePath(cfg.token_file);
    from = `admin.token_file ${path}`;
    try {
      value = readFileSync(path, 'utf8').trim();
    } catch (err) {
      throw new PosternError('POSTERN_ADMIN_TOKEN', `cannot read ${from}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
    }
  } else {
    from = `environment variable ${cfg.token_env ?? ''} (admin.token_env)`;
    value = (env[cfg.token_env ?? ''] ?? '').trim();
  }
  if (value.length < MIN_TOKEN_CHARS) throw new PosternError('POSTERN_ADMIN_TOKEN', `the admin token from ${from} is ${value.length === 0 ? 'empty' : `shorter than ${MIN_TOKEN_CHARS} characters`}`);
  return new Secret(value);
}
