import type { Socket } from 'node:net';

export type PipeEndReason = 'client disconnected' | 'backend disconnected' | 'idle timeout' | 'kicked' | 'shutdown' | `client error: ${string}` | `backend error: ${string}`;

export interface PipeEnd {
  reason: PipeEndReason;
  /** Bytes read from the client (towards the backend) and written to it. */
  bytesIn: number;
  bytesOut: number;
}

export interface Pipe {
  done: Promise<PipeEnd>;
  /** Ends the session now (admin kick, shutdown); `farewell` goes to the client last, instead of the backend's bytes. */
  destroy(reason: 'kicked' | 'shutdown', farewell?: string): void;
  /** Bytes from the client and to it so far. */
  bytes(): { bytesIn: number; bytesOut: number };
}

/**
 * Joins two sockets after login. Node streams carry the back-pressure; no JavaScript runs per
 * byte. `before*` are bytes already read from one side that the other must get first.
 */
export function joinSockets(
  client: Socket,
  backend: Socket,
  opts: {
    idleTimeoutMs: number;
    beforeBackend?: Buffer;
    beforeClient?: Buffer;
    /** The backend closed the session: ms to hold the client's connection before closing it (login_proxy_max_disconnect_delay). */
    clientCloseDelay?: () => number;
  },
): Pipe {
  let reason: PipeEndReason | undefined;
  let resolveDone!: (end: PipeEnd) => void;
  const done = new Promise<PipeEnd>((r) => (resolveDone = r));
  // Client bytes read before the join but relayed by it (pipelined after the login command,
  // or still in the stream's buffer) count as bytes in.
  const clientRead0 = client.bytesRead - client.readableLength - (opts.beforeBackend?.length ?? 0);
  const clientWritten0 = client.bytesWritten;
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
  // A goodbye in the protocol (`* BYE`, `-ERR`): the backend stops talking, the client gets the line, then FIN.
  const farewell = (why: 'kicked' | 'shutdown', line: string) => {
    reason ??= why;
    backend.unpipe(client);
    backend.destroy();
    if (client.destroyed || !client.writable) return;
    client.write(line);
    client.destroySoon();
    setTimeout(() => client.destroy(), 5000).unref(); // a client that never reads
  };

  client.on('error', (err) => end(`client error: ${err.message}`));
  backend.on('error', (err) => end(`backend error: ${err.message}`));
  // A half-close from one side is passed on; when one side is gone entirely, so is the other.
  client.once('end', () => (reason ??= 'client disconnected'));
  backend.once('end', () => (reason ??= 'backend disconnected'));
  client.once('close', () => {
    reason ??= 'client disconnected';
    backend.destroySoon();
    onClosed();
  });
  backend.once('close', () => {
    const byBackend = reason === undefined || reason === 'backend disconnected' || reason.startsWith('backend error');
    reason ??= 'backend disconnected';
    const delay = byBackend && !client.destroyed ? (opts.clientCloseDelay?.() ?? 0) : 0;
    // destroySoon flushes what the backend said last before closing.
    if (delay > 0) holdClient(delay);
    else client.destroySoon();
    onClosed();
  });
  // Dovecot's delayed disconnect: the client's input is read and dropped until its turn comes or it leaves.
  const holdClient = (ms: number) => {
    client.unpipe(backend);
    client.on('data', () => {});
    client.resume();
    const timer = setTimeout(() => client.destroySoon(), ms);
    client.once('close', () => clearTimeout(timer));
  };

  // Client socket activity covers both directions: backend data is written to it.
  client.setTimeout(opts.idleTimeoutMs, () => end('idle timeout'));
  if (opts.beforeClient && opts.beforeClient.length > 0) client.write(opts.beforeClient);
  if (opts.beforeBackend && opts.beforeBackend.length > 0) backend.write(opts.beforeBackend);
  client.pipe(backend);
  // With a delay, the backend's FIN must not reach the client before its turn.
  backend.pipe(client, { end: opts.clientCloseDelay === undefined });
  client.resume();
  backend.resume();
  return { done, destroy: (why, line) => (line !== undefined ? farewell(why, line) : end(why)), bytes };
}
