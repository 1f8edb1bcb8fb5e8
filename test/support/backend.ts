// Loopback backends and a backend login for the tests of the login and relay paths.
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import type { BackendLogin } from '../../src/proxy/index.js';

export type Cleanups = Array<() => void | Promise<void>>;

/** A loopback server that hands each connection to `onConn`; closed by `close`, or by `cleanups`. */
export async function loopbackServer(cleanups: Cleanups, onConn: (s: Socket) => void): Promise<{ port: number; close: () => Promise<void>; conns: Socket[] }> {
  const conns: Socket[] = [];
  const srv: Server = createServer((s) => {
    conns.push(s);
    s.on('error', () => {});
    onConn(s);
  });
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  const close = async () => {
    for (const c of conns) c.destroy();
    if (srv.listening) await new Promise((r) => srv.close(r));
  };
  cleanups.push(close);
  return { port: (srv.address() as AddressInfo).port, conns, close };
}

/** A backend that greets, accepts LOGIN and answers each `<tag> NOOP` with `<tag> OK noop`. */
export function imapBackend(cleanups: Cleanups) {
  return loopbackServer(cleanups, (s) => {
    s.write('* OK ready\r\n');
    s.on('data', (d: Buffer) => {
      const text = d.toString();
      if (text.includes('L LOGIN')) s.write('L OK logged in\r\n');
      for (const m of text.matchAll(/^(\w+) NOOP\r$/gm)) s.write(`${m[1]} OK noop\r\n`);
    });
  });
}

/** A login that writes LOGIN after the greeting and succeeds on "L OK". */
export function lineLogin(): BackendLogin {
  let buf = '';
  return {
    onConnected: () => [],
    onData: (chunk) => {
      buf += chunk.toString();
      if (buf.startsWith('* OK') && buf.endsWith('\r\n') && !buf.includes('L ')) return [{ kind: 'write', data: 'L LOGIN u p\r\n' }];
      if (buf.includes('L OK')) return [{ kind: 'success', clientReply: 'a OK\r\n', leftover: Buffer.alloc(0) }];
      return [];
    },
  };
}
