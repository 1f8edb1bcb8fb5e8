import type { LoginStep, ProxyFailure } from './types.js';

/** A backend response reader as the protocol codecs provide one. */
export type ResponseSource<R> = () => { kind: 'needMore' } | { kind: 'error'; message: string } | { kind: 'response'; response: R };

export function failureStep(kind: ProxyFailure['kind'], detail: string, remoteReply?: string): LoginStep {
  return { kind: 'failure', failure: { kind, detail, ...(remoteReply !== undefined ? { remoteReply } : {}) } };
}

/**
 * Feeds every complete backend response to `handle`, stopping at a step that hands control
 * back to the I/O layer (STARTTLS, success, failure): the bytes after it are not ours to read yet.
 */
export function drainResponses<R>(next: ResponseSource<R>, handle: (response: R) => LoginStep[], done: () => boolean, fail: (detail: string) => LoginStep): LoginStep[] {
  const steps: LoginStep[] = [];
  while (!done()) {
    const r = next();
    if (r.kind === 'needMore') break;
    if (r.kind === 'error') return [...steps, fail(`bad response from backend: ${r.message}`)];
    const out = handle(r.response);
    steps.push(...out);
    if (out.some((s) => s.kind === 'starttls' || s.kind === 'success' || s.kind === 'failure')) break;
  }
  return steps;
}
