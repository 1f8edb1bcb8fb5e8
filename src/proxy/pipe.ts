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
  /** Ends the session now (admin kick, shutdown). */
  destroy(reason: 'kicked' | 'shutdown'): void;
}

/**
 * Read from one side, write to the other; stop reading while the other has more than its
 * high-water mark (16 KiB) unsent, as stream.pipe does. A larger allowance bought nothing under
 * FETCH (loopback takes every 64 KiB write whole: no pause in 1 MB) and would be memory a slow
 * client holds.
 */
function forward(from: Socket, to: Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  // 'drain' comes once what was queued is written.
  to.on('drain', () => from.resume());
}

/**
 * Joins two sockets after login. The sockets' own buffers carry the back-pressure; no JavaScript
 * runs per byte, one call per chunk read. `before*` are bytes already read from one side that the
 * other must get first. Only the listeners below hold the session: no pipe state, no `once`
 * wrappers, no copy of the hand-over's buffers.
 */
export function joinSockets(client: Socket, backend: Socket, opts: { idleTimeoutMs: number; beforeBackend?: Buffer; beforeClient?: Buffer }): Pipe {
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
  const onClosed = () => {
    if (++closed < 2) return;
    resolveDone({ reason: reason ?? 'client disconnected', bytesIn: client.bytesRead - clientRead0, bytesOut: client.bytesWritten - clientWritten0 });
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
    client.end();
  });
  client.on('close', () => {
    reason ??= 'client disconnected';
    backend.destroySoon();
    onClosed();
  });
  backend.on('close', () => {
    reason ??= 'backend disconnected';
    // destroySoon flushes what the backend said last before closing.
    client.destroySoon();
    onClosed();
  });

  // Client socket activity covers both directions: backend data is written to it.
  client.setTimeout(opts.idleTimeoutMs, () => end('idle timeout'));
  if (opts.beforeClient && opts.beforeClient.length > 0) client.write(opts.beforeClient);
  if (opts.beforeBackend && opts.beforeBackend.length > 0) backend.write(opts.beforeBackend);
  forward(client, backend);
  forward(backend, client);
  client.resume();
  backend.resume();
  return { done, destroy: (why) => end(why) };
}
