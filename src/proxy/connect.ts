import { connect as tcpConnect, isIP, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { backendTlsContext, NativeSocket, noteSocketFailure, type AnySocket, type DialTls } from '../net/index.js';
import { sleep, type AbortLike } from '../core/index.js';
import { backendEndpoint } from './source-ips.js';
import type { BackendLogin, BackendTarget, LoginStep, ProxyFailure } from './types.js';

export interface ConnectOptions {
  maxReconnects: number;
  reconnectIntervalMs: number;
  /** CAs for verified backend TLS; undefined means the system's. */
  ca?: Buffer;
  /** Called before each attempt after the first, for the log. */
  onRetry?: (attempt: number, failure: ProxyFailure) => void;
  /** Checked after a host name resolves: a name pointing back at us is a loop. */
  isSelf?: (ip: string, port: number) => boolean;
  /** Aborts the attempt under way and any further ones (client gone, shutdown). */
  signal?: AbortLike;
  /** Injected for tests. */
  now?: () => number;
  /** The next login_source_ips address for a backend of this family, when the passdb gave no source_ip. */
  sourceIp?: (family: 4 | 6) => string | undefined;
  /** The native relay dials the backend and will carry the session (NativeSocket), running its TLS too where it can. */
  nativeDial?: boolean;
  /** The relay offers a backend's last TLS session at the next dial to it (proxy.ssl_session_reuse; default true). */
  sessionReuse?: boolean;
}

export type ProxyOutcome =
  /** `address`: the backend's address as connected to (the host resolved). */
  | { kind: 'ok'; socket: AnySocket; address: string; forwarded: Buffer[]; clientReply: Buffer | string; leftover: Buffer; attempts: number; elapsedMs: number }
  | { kind: 'failed'; failure: ProxyFailure; attempts: number; elapsedMs: number };

/** Dovecot does not reconnect when less than this is left of the timeout. */
const MIN_TIME_LEFT_FOR_RETRY_MS = 1100;

/** Certificate problems are configuration errors, not passing faults: no reconnect, [SERVERBUG]. */
const CERT_ERROR = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ALTNAME|HOSTNAME/;

const ABORTED: ProxyFailure = { kind: 'internal', detail: 'login abandoned: the client left or postern is stopping' };

function retryable(f: ProxyFailure): boolean {
  return f.kind === 'connect' || f.kind === 'authTempFail';
}

/** Connects to a backend and runs the protocol's login, reconnecting as Dovecot does. */
export async function proxyConnect(target: BackendTarget, makeLogin: () => BackendLogin, opts: ConnectOptions): Promise<ProxyOutcome> {
  const now = opts.now ?? Date.now;
  const started = now();
  const deadline = started + target.timeoutMs;
  let attempts = 0;
  let endpoint: { address: string; source: string | undefined };
  try {
    endpoint = await backendEndpoint(target.host, target.sourceIp, opts.sourceIp);
  } catch (err) {
    return { kind: 'failed', failure: { kind: 'connect', detail: `DNS lookup of ${target.host} failed: ${(err as Error).message}` }, attempts: 0, elapsedMs: now() - started };
  }
  const { address, source } = endpoint;
  if (address !== target.host && opts.isSelf?.(address, target.port)) {
    // The same answer as a literal address pointing at us: Dovecot's "Proxying loops to itself".
    return { kind: 'failed', failure: { kind: 'internal', detail: `Proxying loops to itself: ${target.host} is ${address}:${target.port}` }, attempts: 0, elapsedMs: now() - started };
  }
  if (source !== undefined && source !== target.sourceIp) target = { ...target, sourceIp: source };
  for (;;) {
    attempts++;
    if (opts.signal?.aborted) return { kind: 'failed', failure: ABORTED, attempts, elapsedMs: now() - started };
    const result = await attempt(target, address, makeLogin(), deadline - now(), opts);
    if (result.kind === 'ok') {
      // One literal of one shape: a spread of `result` with more properties missed V8's caches at every login.
      return { kind: 'ok', socket: result.socket, address, forwarded: result.forwarded, clientReply: result.clientReply, leftover: result.leftover, attempts, elapsedMs: now() - started };
    }
    const left = deadline - now();
    if (!retryable(result.failure) || attempts > opts.maxReconnects || left < MIN_TIME_LEFT_FOR_RETRY_MS + opts.reconnectIntervalMs) {
      return { kind: 'failed', failure: result.failure, attempts, elapsedMs: now() - started };
    }
    opts.onRetry?.(attempts, result.failure);
    await sleep(opts.reconnectIntervalMs, opts.signal);
  }
}

type AttemptResult = { kind: 'ok'; socket: AnySocket; forwarded: Buffer[]; clientReply: Buffer | string; leftover: Buffer } | { kind: 'failed'; failure: ProxyFailure };

function attempt(target: BackendTarget, address: string, login: BackendLogin, timeLeftMs: number, opts: ConnectOptions): Promise<AttemptResult> {
  const { ca, signal } = opts;
  const nativeDial = opts.nativeDial === true;
  return new Promise((resolve) => {
    const where = `${target.host}:${target.port}`;
    const servername = isIP(target.host) ? undefined : target.host;
    // Node's TLS, for a backend the relay does not dial or cannot run TLS for.
    const nodeTlsOptions = () => ({ ca, rejectUnauthorized: target.verifyCert, ...(servername ? { servername } : {}), host: target.host });
    // The same checks as tls.connect's: SNI for a name, the certificate against the host as given (a name, or an IP address).
    const context = nativeDial && target.tls !== 'none' ? backendTlsContext(ca, opts.sessionReuse !== false) : undefined;
    const nativeTls: DialTls | undefined = context ? { context, ...(servername ? { servername } : {}), ...(target.verifyCert ? { verifyHost: target.host } : {}) } : undefined;
    const forwarded: Buffer[] = [];
    let socket: AnySocket;
    let settled = false;
    let loggedIn = false;
    let handshaking = target.tls === 'implicit';

    const onAbort = () => fail(ABORTED);
    const finish = (result: AttemptResult) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      if (socket instanceof NativeSocket) socket.stopEvents();
      else detach(socket);
      if (result.kind === 'failed') socket.destroy();
      resolve(result);
    };
    const fail = (failure: ProxyFailure) => finish({ kind: 'failed', failure });

    // Steps written together (ID and LOGIN, pipelined) leave in one segment and one system call.
    const run = (steps: LoginStep[]) => {
      const corked = socket;
      corked.cork();
      try {
        runSteps(steps);
      } finally {
        corked.uncork();
      }
    };
    const runSteps = (steps: LoginStep[]) => {
      for (const step of steps) {
        if (settled) return;
        switch (step.kind) {
          case 'write':
            socket.write(step.data);
            break;
          case 'forward':
            forwarded.push(step.data);
            break;
          case 'starttls':
            upgrade();
            return;
          case 'success':
            loggedIn = true;
            finish({ kind: 'ok', socket, forwarded, clientReply: step.clientReply, leftover: step.leftover });
            return;
          case 'failure':
            fail(step.failure);
            return;
          default: {
            const never: never = step;
            throw new Error(`unknown login step ${JSON.stringify(never)}`);
          }
        }
      }
    };
    const onData = (chunk: Buffer) => run(login.onData(chunk));
    const onClose = () => fail({ kind: 'connect', detail: `${where}: disconnected during login` });
    const onError = (err: NodeJS.ErrnoException) => {
      // A Node socket that could not be made (EMFILE): the process is out, as when a native dial fails.
      noteSocketFailure(err.code);
      if (handshaking && CERT_ERROR.test(err.code ?? '')) fail({ kind: 'config', detail: `${where}: TLS certificate not accepted: ${err.message}` });
      else if (handshaking) fail({ kind: 'connect', detail: `${where}: TLS handshake failed: ${err.message}` });
      else fail({ kind: 'connect', detail: `${where}: ${err.message}` });
    };
    const attach = (s: Socket) => {
      s.on('data', onData);
      s.on('close', onClose);
      s.on('error', onError);
    };
    const detach = (s: Socket) => {
      s.removeListener('data', onData);
      s.removeListener('close', onClose);
      s.removeListener('error', onError);
    };
    const secured = () => {
      handshaking = false;
      run(login.onConnected(true, socket instanceof NativeSocket));
    };
    const upgrade = () => {
      handshaking = true;
      if (socket instanceof NativeSocket) {
        // Only dialled natively when the relay has a context for it (nativeTls).
        const { context: tls, ...names } = nativeTls!;
        socket.startTls(tls, Math.max(timeLeftMs, 1), names).then(
          () => !settled && secured(),
          (err: NodeJS.ErrnoException) => !settled && onError(err),
        );
        return;
      }
      const plain = socket;
      detach(plain);
      const secure: TLSSocket = tlsConnect({ ...nodeTlsOptions(), socket: plain });
      socket = secure;
      attach(secure);
      secure.once('secureConnect', secured);
    };

    let dialled: NativeSocket | undefined;
    if (nativeDial && (target.tls === 'none' || nativeTls)) {
      try {
        const implicit = target.tls === 'implicit';
        const connected = implicit ? secured : () => run(login.onConnected(false, true));
        dialled = NativeSocket.open(address, target.port, target.sourceIp, { connected, data: onData, closed: onClose, error: onError }, implicit ? nativeTls : undefined);
      } catch (err) {
        resolve({ kind: 'failed', failure: { kind: 'connect', detail: `${where}: ${(err as Error).message}` } });
        return;
      }
    }
    const timer = setTimeout(() => fail({ kind: 'timeout', detail: `${where}: ${loggedIn ? 'login' : 'connect and login'} timed out` }), Math.max(timeLeftMs, 1));
    if (dialled) {
      socket = dialled;
    } else {
      const base = { host: address, port: target.port, ...(target.sourceIp ? { localAddress: target.sourceIp } : {}) };
      if (target.tls === 'implicit') {
        socket = tlsConnect({ ...base, ...nodeTlsOptions(), host: address });
        socket.once('secureConnect', secured);
      } else {
        socket = tcpConnect(base);
        socket.once('connect', () => run(login.onConnected(false, false)));
      }
      socket.setNoDelay(true);
      attach(socket);
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
