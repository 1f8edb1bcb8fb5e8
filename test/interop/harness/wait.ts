// Bounded polling: every wait in the harness goes through here, so none can spin forever.
import { setTimeout as sleep } from 'node:timers/promises';

export interface PollOptions {
  timeoutMs: number;
  /** Pause between attempts; the attempt count is bounded by timeoutMs / intervalMs + 1. */
  intervalMs?: number;
  /** Used in the timeout error. */
  what?: string;
}

export class HarnessTimeoutError extends Error {
  readonly code = 'HARNESS_TIMEOUT';
}

/** Calls `probe` until it returns something other than undefined; throws HarnessTimeoutError after the bound. */
export async function pollUntil<T>(probe: () => Promise<T | undefined> | T | undefined, opts: PollOptions): Promise<T> {
  const intervalMs = opts.intervalMs ?? 25;
  const maxAttempts = Math.ceil(opts.timeoutMs / intervalMs) + 1;
  const deadline = Date.now() + opts.timeoutMs;
  for (let attempt = 0; attempt < maxAttempts; attempt++) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() >= deadline) break;
    await sleep(Math.min(intervalMs, Math.max(0, deadline - Date.now())));
  }
  throw new HarnessTimeoutError(`timed out after ${opts.timeoutMs} ms waiting for ${opts.what ?? 'condition'}`);
}

/** Resolves with the promise's value, or rejects with HarnessTimeoutError after timeoutMs. */
export async function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new HarnessTimeoutError(`timed out after ${timeoutMs} ms waiting for ${what}`)), timeoutMs);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
