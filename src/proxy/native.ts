import { createRequire } from 'node:module';

/** The addon built from native/relay.c at `npm ci`. */
export interface NativeRelay {
  /** `backend`: a descriptor (duplicated), or a dial's handle (taken as it is). */
  adopt(clientFd: number, backend: number | object, idleMs: number, hasDelay: boolean, toBackend: Buffer | undefined, toClient: Buffer | undefined, onEvent: (kind: number, reason?: string, bytesIn?: number, bytesOut?: number) => number | undefined): object;
  destroy(handle: object): void;
  farewell(handle: object, line: Buffer): void;
  bytes(handle: object): [number, number];
  /** A plain TCP connection to a backend, for its login before the join (src/proxy/native-backend.ts). */
  dial(address: string, port: number, source: string | undefined, onEvent: (kind: number, arg?: Buffer | string) => void): object;
  dialSend(handle: object, data: string | Buffer): void;
  dialClose(handle: object): void;
  dialLocal(handle: object): string | undefined;
  dialPending(handle: object): Buffer | undefined;
  dialDetach(handle: object): number;
}

function load(): { relay?: NativeRelay; error?: string } {
  if (process.platform !== 'linux') return { error: 'the native relay is built on Linux only' };
  try {
    // This file runs as dist/src/proxy/native.js; the addon is built in the package root's native/.
    const require = createRequire(import.meta.url);
    return { relay: require(new URL('../../../native/build/Release/postern_relay.node', import.meta.url).pathname) as NativeRelay };
  } catch (err) {
    return { error: (err as Error).message.split('\n')[0] };
  }
}

const loaded = load();
let native: NativeRelay | undefined = loaded.relay;

/** Tests put a relay whose calls fail in place of the addon, and restore it with the returned function. */
export function replaceNativeRelayForTest(fake: NativeRelay | undefined): () => void {
  const before = native;
  native = fake;
  return () => (native = before);
}

/** The addon, or undefined where it is not built (or a test took it away). */
export function nativeAddon(): NativeRelay | undefined {
  return native;
}

/** Why plaintext sessions go through the JavaScript pipe although `proxy.relay` is `auto`; undefined when the native relay is there. */
export const nativeRelayMissing: string | undefined = loaded.error;
