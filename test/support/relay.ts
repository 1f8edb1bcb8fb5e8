import { once } from 'node:events';
import { connect, createServer, type AddressInfo, type Socket } from 'node:net';
import type { NativeRelay } from '../../src/proxy/native.js';

/** A connected pair of loopback sockets: [the far end, our end]. */
export async function socketPair(): Promise<[Socket, Socket]> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection');
  const far = connect((server.address() as AddressInfo).port, '127.0.0.1');
  const [ours] = (await accepted) as [Socket];
  server.close();
  await once(far, 'connect');
  return [far, ours];
}

/** A native relay whose adopt() refuses every session with `message`, and that dials nothing. */
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
    dialPending: () => undefined,
    dialDetach: () => -1,
  };
}
