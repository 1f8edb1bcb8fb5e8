// The end of every target's start(): wait for its ports, then hand out the running target.
import { waitForListening, type ManagedProcess, type TempDir } from '../../test/interop/harness/index.js';
import type { ProxySpec, RunningTarget } from './types.js';

/** How long a target may take to start: a wrapped one (valgrind) starts tens of times slower. */
export const startTimeoutMs = (spec: ProxySpec, ms: number): number => (spec.wrap !== undefined ? 300_000 : ms);

/**
 * Resolves once `ports` (plain and TLS first) listen; a process that does not get there is stopped
 * and its output reported. stop() stops the process and removes its folder.
 */
export async function whenListening(name: string, proc: ManagedProcess, dir: TempDir, ports: { plain: number; tls: number; others?: number[] }, timeoutMs: number): Promise<RunningTarget> {
  try {
    await waitForListening([ports.plain, ports.tls, ...(ports.others ?? [])], timeoutMs);
  } catch (error) {
    await proc.stop();
    throw new Error(`${name} did not start: ${(error as Error).message}\n${proc.output()}`);
  }
  return {
    port: ports.plain,
    tlsPort: ports.tls,
    pid: proc.pid,
    stop: async () => {
      await proc.stop();
      dir.remove();
    },
  };
}
