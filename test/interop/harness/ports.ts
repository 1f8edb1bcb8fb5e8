// Free loopback ports chosen at run time, and bounded waits on them.
import { readFile } from 'node:fs/promises';
import { createConnection, createServer, type Server } from 'node:net';
import { pollUntil } from './wait.js';

export type LoopbackHost = '127.0.0.1' | '::1';

function listen(host: string): Promise<Server> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => resolve(server));
  });
}

function close(server: Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/**
 * `count` distinct ports that were free a moment ago (bind port 0, read it, close).
 * All are held open together so they are distinct; a peer may still lose a race for one,
 * so starters retry on "address in use".
 */
export async function freePorts(count: number, host: LoopbackHost = '127.0.0.1'): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) servers.push(await listen(host));
    return servers.map((s) => {
      const address = s.address();
      if (address === null || typeof address === 'string') throw new Error('no TCP address');
      return address.port;
    });
  } finally {
    await Promise.all(servers.map(close));
  }
}

export async function freePort(host: LoopbackHost = '127.0.0.1'): Promise<number> {
  const [port] = await freePorts(1, host);
  if (port === undefined) throw new Error('no port');
  return port;
}

/** One connect attempt, bounded by timeoutMs; true if accepted. */
export function canConnect(port: number, host: LoopbackHost = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host, port });
    const done = (ok: boolean): void => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const TCP_LISTEN = '0A';

/**
 * TCP ports in LISTEN state, read from /proc/net/tcp{,6} so that readiness checks
 * open no connection (a probe connection would put noise in the peer's log).
 * Undefined where /proc is not available.
 */
export async function listeningPorts(): Promise<Set<number> | undefined> {
  const ports = new Set<number>();
  let readAny = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch {
      continue;
    }
    readAny = true;
    for (const line of text.split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      const local = fields[1];
      if (local === undefined || fields[3] !== TCP_LISTEN) continue;
      const portHex = local.slice(local.lastIndexOf(':') + 1);
      ports.add(parseInt(portHex, 16));
    }
  }
  return readAny ? ports : undefined;
}

/** True if every port listens (via /proc when possible, else by connecting). */
export async function allListening(ports: readonly number[], host: LoopbackHost = '127.0.0.1'): Promise<boolean> {
  const listening = await listeningPorts();
  if (listening !== undefined) return ports.every((p) => listening.has(p));
  const results = await Promise.all(ports.map((p) => canConnect(p, host, 200)));
  return results.every(Boolean);
}

/** Waits until every port listens. */
export async function waitForListening(ports: readonly number[], timeoutMs: number, host: LoopbackHost = '127.0.0.1'): Promise<void> {
  await pollUntil(async () => ((await allListening(ports, host)) ? true : undefined), {
    timeoutMs,
    what: `ports ${ports.join(', ')} to listen`,
  });
}

/** Waits until a connection to the port is refused. */
export async function waitForPortClosed(port: number, timeoutMs: number, host: LoopbackHost = '127.0.0.1'): Promise<void> {
  await pollUntil(async () => ((await canConnect(port, host, 200)) ? undefined : true), {
    timeoutMs,
    what: `port ${port} to close`,
  });
}
