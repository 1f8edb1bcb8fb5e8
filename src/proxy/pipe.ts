import type { Socket } from 'node:net';
import { endLingering, nodeSocket, type AnySocket } from '../net/index.js';
import { adoptSockets, type JoinOptions, type RelayMode } from './relay.js';

export type PipeEndReason = 'client disconnected' | 'backend disconnected' | 'idle timeout' | 'kicked' | 'shutdown' | `client error: ${string}` | `backend error: ${string}`;

export interface PipeEnd {
  reason: PipeEndReason;
  /** Bytes read from the client (towards the backend) and written to it. */
  bytesIn: number;
  bytesOut: number;
}

export interface Pipe {
  done: Promise<PipeEnd>;
  /**
   * Ends the session now (admin kick, shutdown); `farewell` goes to the client last, instead of the
   * backend's bytes. Asked again while the farewell still waits on the client, it closes at once.
   */
  destroy(reason: 'kicked' | 'shutdown', farewell?: string): void;
  /** Bytes from the client and to it so far. */
  bytes(): { bytesIn: number; bytesOut: number };
}

/** How long a client is given to close its side after ours (a lingering close), and to take a farewell. */
const LINGER_MS = 2000;
const FAREWELL_MS = 5000;

/** Whether each direction still forwards: a goodbye or a held disconnect stops one. */
interface Flow {
  toBackend: boolean;
  toClient: boolean;
}

/**
 * Read from one side, write to the other; stop reading while the other has more than its
 * high-water mark (16 KiB) unsent, as stream.pipe does. A larger allowance bought nothing under
 * FETCH (loopback takes every 64 KiB write whole: no pause in 1 MB) and would be memory a slow
 * client holds. Bytes read once the direction is shut are dropped.
 */
function forward(from: Socket, to: Socket, flow: Flow, key: keyof Flow): void {
  from.on('data', (chunk: Buffer) => {
    if (flow[key] && !to.write(chunk)) from.pause();
  });
  // 'drain' comes once what was queued is written.
  to.on('drain', () => from.resume());
}

/**
 * Joins two sockets after login. The sockets' own buffers carry the back-pressure; no JavaScript
 * runs per byte, one call per chunk read. `before*` are bytes already read from one side that the
 * other must get first. Only the listeners below hold the session: no pipe state beyond `flow`,
 * no `once` wrappers, no copy of the hand-over's buffers.
 */
export function joinSockets(
  clientSocket: AnySocket,
  backendSocket: AnySocket,
  /** `relay: auto`: sessions go to the native relay when it is built and can take both sides (src/proxy/relay.ts). */
  opts: JoinOptions & { relay?: RelayMode },
): Pipe {
  if (opts.relay === 'auto') {
    const adopted = adoptSockets(clientSocket, backendSocket, opts);
    if (adopted) return adopted;
  }
  const client = nodeSocket(clientSocket);
  const backend = nodeSocket(backendSocket);
  // The reply and the first bytes after it leave in one write.
  client.cork();
  if (opts.reply) client.write(opts.reply);
  let reason: PipeEndReason | undefined;
  let resolveDone!: (end: PipeEnd) => void;
  const done = new Promise<PipeEnd>((r) => (resolveDone = r));
  // Client bytes read before the join but relayed by it (pipelined after the login command,
  // or still in the stream's buffer) count as bytes in.
  const clientRead0 = client.bytesRead - client.readableLength - (opts.beforeBackend?.length ?? 0);
  const clientWritten0 = client.bytesWritten;
  const flow: Flow = { toBackend: true, toClient: true };
  let closed = 0;

  const end = (why: PipeEndReason) => {
    reason ??= why;
    client.destroy();
    backend.destroy();
  };
  const bytes = () => ({ bytesIn: client.bytesRead - clientRead0, bytesOut: client.bytesWritten - clientWritten0 });
  const onClosed = () => {
    if (++closed < 2) return;
    resolveDone({ reason: reason ?? 'client disconnected', ...bytes() });
  };
  // The client's last bytes, a FIN, and a lingering close; what it sends meanwhile goes nowhere.
  const closeClient = (line?: string) => {
    flow.toBackend = false;
    endLingering(client, line, LINGER_MS);
  };
  // A timer that goes with the client: cleared when it closes first.
  const whileOpen = (ms: number, fn: () => void) => {
    const timer = setTimeout(fn, ms).unref();
    client.once('close', () => clearTimeout(timer));
  };
  // A goodbye in the protocol (`* BYE`, `-ERR`): the backend stops talking, the client gets the line, then FIN.
  const farewell = (why: 'kicked' | 'shutdown', line: string) => {
    if (!flow.toClient) return end(why);
    reason ??= why;
    flow.toClient = false;
    backend.destroy();
    if (client.destroyed || !client.writable) return;
    closeClient(line);
    whileOpen(FAREWELL_MS, () => client.destroy()); // a client that never reads
  };
  // Dovecot's delayed disconnect: the client's input is read and dropped until its turn comes or it leaves.
  const holdClient = (ms: number) => {
    flow.toBackend = false;
    client.resume();
    whileOpen(ms, () => closeClient());
  };

  client.on('error', (err) => end(`client error: ${err.message}`));
  backend.on('error', (err) => end(`backend error: ${err.message}`));
  // A half-close from one side is passed on; when one side is gone entirely, so is the other.
  client.on('end', () => {
    reason ??= 'client disconnected';
    backend.end();
  });
  backend.on('end', () => {
    reason ??= 'backend disconnected';
    // The backend is done (Node ends our side of it too): what the client sends from now on is dropped.
    flow.toBackend = false;
    // With a disconnect delay, the backend's FIN must not reach the client before its turn.
    if (opts.clientCloseDelay === undefined && flow.toClient) closeClient();
  });
  client.on('close', () => {
    reason ??= 'client disconnected';
    backend.destroySoon();
    onClosed();
  });
  backend.on('close', () => {
    const byBackend = reason === undefined || reason === 'backend disconnected' || reason.startsWith('backend error');
    reason ??= 'backend disconnected';
    const delay = byBackend && !client.destroyed && flow.toClient ? (opts.clientCloseDelay?.() ?? 0) : 0;
    // closeClient flushes what the backend said last before the FIN.
    if (delay > 0) holdClient(delay);
    else closeClient();
    onClosed();
  });

  // Client socket activity covers both directions: backend data is written to it.
  client.setTimeout(opts.idleTimeoutMs, () => end('idle timeout'));
  if (opts.beforeClient && opts.beforeClient.length > 0) client.write(opts.beforeClient);
  if (opts.beforeBackend && opts.beforeBackend.length > 0) backend.write(opts.beforeBackend);
  forward(client, backend, flow, 'toBackend');
  forward(backend, client, flow, 'toClient');
  client.uncork();
  client.resume();
  backend.resume();
  return { done, destroy: (why, line) => (line !== undefined ? farewell(why, line) : end(why)), bytes };
}
