import { Listener, listenConfigSchema, type Connection, type ServerTls } from '../../src/net/index.js';
import { captureLogs } from './logs.js';

export interface QueuedListenerOptions {
  tls?: 'none' | 'starttls' | 'implicit';
  /** The certificates for `tls` other than none. */
  serverTls?: ServerTls;
  address?: string;
  /** Default true: the native relay accepts (proxy.relay: auto). */
  nativeAccept?: boolean;
}

/**
 * An IMAP Listener on a free port whose connections are queued for the test: next() takes the
 * next one (at most 5 s), `logs` holds what it logged. `cleanups` destroys it after the test.
 */
export async function queuedListener(cleanups: Array<() => void | Promise<void>>, o: QueuedListenerOptions = {}) {
  const { log, records: logs } = captureLogs();
  const pending: Connection[] = [];
  const waiters: Array<(c: Connection) => void> = [];
  const config = listenConfigSchema.parse({ protocol: 'imap', address: o.address ?? '127.0.0.1', port: 0, tls: o.tls ?? 'none' });
  const listener = new Listener(config, o.serverTls, (c) => {
    const w = waiters.shift();
    if (w) w(c);
    else pending.push(c);
  }, log, { nativeAccept: o.nativeAccept ?? true });
  const { port } = await listener.listen();
  cleanups.push(() => listener.destroy());
  const next = () =>
    new Promise<Connection>((resolve, reject) => {
      const c = pending.shift();
      if (c) return resolve(c);
      const timer = setTimeout(() => reject(new Error('no connection within 5 s')), 5000);
      waiters.push((got) => {
        clearTimeout(timer);
        resolve(got);
      });
    });
  return { listener, port, next, logs };
}
