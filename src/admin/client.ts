import { request } from 'node:http';
import { PosternError, type Secret } from '../core/index.js';
import type { AdminListen } from './config.js';

/** How long a verb waits for the API. */
const CLIENT_TIMEOUT_MS = 15_000;

export interface AdminEndpoint {
  where: AdminListen;
  token: Secret;
}

/** `http://127.0.0.1:8080`, `http://[::1]:8080` or `unix:/run/postern/admin.sock`. */
export function parseAdminUrl(text: string): AdminListen | undefined {
  if (text.startsWith('unix:')) return text.length > 5 ? { kind: 'unix', path: text.slice(5) } : undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' || url.pathname !== '/' || url.search !== '') return undefined;
  return { kind: 'tcp', host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port === '' ? 80 : Number(url.port) };
}

export function describeEndpoint(w: AdminListen): string {
  return w.kind === 'unix' ? `unix:${w.path}` : `http://${w.host.includes(':') ? `[${w.host}]` : w.host}:${w.port}`;
}

/**
 * One call to the admin API. Answers other than 2xx become a PosternError: POSTERN_ADMIN_REFUSED
 * for a token the server refused, POSTERN_ADMIN_API for the rest (with the server's reason);
 * POSTERN_ADMIN_UNREACHABLE when nothing answers.
 */
export function adminCall(ep: AdminEndpoint, method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
  const where = describeEndpoint(ep.where);
  const payload = body === undefined ? undefined : JSON.stringify(body);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        method,
        path,
        ...(ep.where.kind === 'unix' ? { socketPath: ep.where.path } : { host: ep.where.host, port: ep.where.port }),
        headers: { authorization: `Bearer ${ep.token.reveal()}`, ...(payload !== undefined ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) } : {}) },
        timeout: CLIENT_TIMEOUT_MS,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          const status = res.statusCode ?? 0;
          if (status === 401) return reject(new PosternError('POSTERN_ADMIN_REFUSED', `the admin API at ${where} refused the token`));
          let parsed: unknown = text;
          if ((res.headers['content-type'] ?? '').startsWith('application/json')) {
            try {
              parsed = JSON.parse(text);
            } catch {
              return reject(new PosternError('POSTERN_ADMIN_API', `the admin API at ${where} answered ${status} with broken JSON`));
            }
          }
          if (status < 200 || status > 299) {
            const why = typeof parsed === 'object' && parsed !== null && 'error' in parsed ? String((parsed as { error: unknown }).error) : text.trim();
            return reject(new PosternError('POSTERN_ADMIN_API', `${method} ${path} at ${where}: ${status}: ${String(why).replace(/\s*\n\s*/g, ' ')}`));
          }
          resolve(parsed);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${CLIENT_TIMEOUT_MS / 1000} s`)));
    req.on('error', (err: NodeJS.ErrnoException) => reject(new PosternError('POSTERN_ADMIN_UNREACHABLE', `cannot reach the admin API at ${where}: ${err.code ?? err.message}`)));
    req.end(payload);
  });
}
