import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { NativeRelay, NativeSocketEvents } from '../../src/net/index.js';

/** A connected pair of loopback sockets: [the far end, our end]. */
export async function socketPair(far0: { allowHalfOpen?: boolean } = {}): Promise<[Socket, Socket]> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const far = connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', ...far0 });
  const [ours] = (await accepted) as [Socket];
  server.close();
  await once(far, 'connect');
  return [far, ours];
}

/** A native relay whose adopt() refuses every session with `message`, and that dials and accepts nothing. */
export function refusingRelay(message: string): NativeRelay {
  return {
    adopt: () => {
      throw new Error(message);
    },
    destroy: () => {},
    farewell: () => {},
    bytes: () => [0, 0],
    dial: () => {
      throw new Error('this relay dials nothing');
    },
    dialSend: () => {},
    dialClose: () => {},
    dialLocal: () => undefined,
    dialResumed: () => undefined,
    dialPending: () => undefined,
    dialDetach: () => -1,
    dialPause: () => {},
    dialResume: () => {},
    dialEnd: () => true,
    dialStartTls: () => false,
    socketPair: () => {
      throw new Error('this relay makes no socket pair');
    },
    cpuPolicy: () => {
      throw new Error(message);
    },
    tlsContext: () => {
      throw new Error('this relay has no TLS');
    },
    tlsClientContext: () => {
      throw new Error('this relay has no TLS');
    },
    listenTls: () => {},
    listen: () => {
      throw new Error('this relay accepts nothing');
    },
    listenTake: () => false,
    listenResume: () => {},
    listenPause: () => {},
    listenClose: () => {},
  };
}

/** Events of a native connection, recorded; `until(pred, what)` waits (at most 5 s) until `pred` holds. */
export function recorder() {
  const seen: Array<{ kind: string; arg?: unknown }> = [];
  let wake: (() => void) | undefined;
  const push = (kind: string, arg?: unknown) => {
    seen.push({ kind, arg });
    wake?.();
  };
  const events: NativeSocketEvents = {
    connected: () => push('connected'),
    data: (b) => push('data', b.toString()),
    closed: () => push('closed'),
    error: (e) => push('error', e),
  };
  const until = async (pred: () => boolean, what: string) => {
    const deadline = Date.now() + 5000;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error(`no ${what} within 5 s; seen ${JSON.stringify(seen.map((e) => e.kind))}`);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  return { seen, events, until };
}

/** Reads `s` until `text` has come (at most 5 s); resolves with all that was read. */
export function readUntil(s: Socket, text: string): Promise<string> {
  let got = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`got ${JSON.stringify(got)}, waiting for ${JSON.stringify(text)}`)), 5000);
    const onData = (c: Buffer) => {
      got += c.toString();
      if (!got.includes(text)) return;
      clearTimeout(timer);
      s.off('data', onData);
      resolve(got);
    };
    s.on('data', onData);
  });
}

/** Reads `s` to its end slowly (a pause of 1 ms after each chunk), so that the sender's buffers stay full to the last. */
export async function readSlowly(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => {
    chunks.push(c);
    s.pause();
    setTimeout(() => s.resume(), 1);
  });
  const ended = once(s, 'end');
  s.resume();
  await ended;
  return Buffer.concat(chunks);
}

/** Writes a command every 2 ms until the other side's FIN (or the close); the errors `s` saw. */
export function chatter(s: Socket): Error[] {
  const errors: Error[] = [];
  s.on('error', (err) => errors.push(err));
  const timer = setInterval(() => s.write('a NOOP\r\n'), 2);
  s.once('end', () => clearInterval(timer));
  s.once('close', () => clearInterval(timer));
  return errors;
}
