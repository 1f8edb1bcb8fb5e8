import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { PosternError } from '../core/index.js';
import type { Logger } from '../log/index.js';
import { applySocketPermissions, freeSocketPath } from '../net/index.js';
import type { AdminListen } from './config.js';
import { handleAdminRequest, type AdminAuth } from './handler.js';
import type { AdminTarget } from './target.js';

/** Request bodies are small JSON filters. */
const MAX_BODY_BYTES = 16 * 1024;
/** A client that sends its request this slowly is gone. */
const REQUEST_TIMEOUT_MS = 10_000;
const LABEL = 'admin';

/** The admin API's HTTP listener (node:http, no framework): bodies read, handler called, one log line per request. */
export class AdminServer {
  readonly #server: Server;
  readonly #where: AdminListen;
  /** The token and the metrics rule; a reload may replace them. */
  #auth: AdminAuth;
  #closed: Promise<void> | undefined;

  constructor(where: AdminListen, target: AdminTarget, auth: AdminAuth, log: Logger) {
    this.#where = where;
    this.#auth = auth;
    const alog = log.child({ module: 'admin' });
    this.#server = createServer({ requestTimeout: REQUEST_TIMEOUT_MS }, (req, res) => void this.#serve(req, res, target, alog));
  }

  /** Requests from now on are checked against `auth` (a rotated token, a changed metrics_token_required). */
  setAuth(auth: AdminAuth): void {
    this.#auth = auth;
  }

  async #serve(req: IncomingMessage, res: ServerResponse, target: AdminTarget, log: Logger): Promise<void> {
    const t0 = performance.now();
    const path = (req.url ?? '/').split('?')[0];
    const body = await readBody(req);
    const answer =
      body === undefined
        ? { status: 413, headers: { 'content-type': 'application/json' }, body: `${JSON.stringify({ error: `the body is larger than ${MAX_BODY_BYTES} bytes` })}\n` }
        : await handleAdminRequest({ method: req.method ?? 'GET', url: req.url ?? '/', authorization: req.headers.authorization, body }, target, this.#auth);
    res.writeHead(answer.status, { ...answer.headers, 'content-length': Buffer.byteLength(answer.body), ...(body === undefined ? { connection: 'close' } : {}) });
    res.end(answer.body);
    // Never the token, the headers or the body: method, path, status and time.
    const rip = req.socket.remoteAddress ?? 'unix';
    const line = { event: 'admin_request', method: req.method, path, status: answer.status, ms: Math.round(performance.now() - t0), rip };
    if (answer.status >= 500) log.error(line, `admin ${req.method} ${path}: ${answer.status}`);
    else if (answer.status === 401) log.warn(line, `admin ${req.method} ${path}: token refused`);
    else log.info(line, `admin ${req.method} ${path}: ${answer.status}`);
  }

  async listen(): Promise<AddressInfo> {
    const w = this.#where;
    if (w.kind === 'unix') await freeSocketPath(w.path, LABEL);
    await new Promise<void>((resolve, reject) => {
      const where = w.kind === 'unix' ? w.path : `${w.host}:${w.port}`;
      const onError = (err: Error) => reject(new PosternError('POSTERN_LISTEN', `cannot listen on ${where} (${LABEL}): ${err.message}`, { cause: err }));
      this.#server.once('error', onError);
      this.#server.listen(w.kind === 'unix' ? { path: w.path } : { host: w.host, port: w.port }, () => {
        this.#server.off('error', onError);
        resolve();
      });
    });
    if (w.kind === 'unix') {
      try {
        await applySocketPermissions(w.path, {}, LABEL);
      } catch (err) {
        await this.close();
        throw err;
      }
    }
    return this.address();
  }

  /** For a unix socket `{ address: path, family: 'unix', port: 0 }`. */
  address(): AddressInfo {
    const a = this.#server.address();
    if (typeof a === 'string') return { address: a, family: 'unix', port: 0 };
    return a ?? { address: '', family: '', port: 0 };
  }

  /** Stops accepting and drops idle keep-alive connections; a request under way is answered. */
  close(): Promise<void> {
    this.#closed ??= new Promise((resolve) => {
      if (!this.#server.listening) return resolve();
      this.#server.close(() => resolve());
      this.#server.closeIdleConnections();
    });
    return this.#closed;
  }
}

/** The body as text, or undefined when it is larger than MAX_BODY_BYTES. */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) over = true;
      else chunks.push(c);
    });
    req.on('end', () => resolve(over ? undefined : Buffer.concat(chunks).toString('utf8')));
    req.on('error', () => resolve(undefined));
  });
}
