/** What the primary and its workers say to each other over the cluster IPC channel. */

/** Primary to worker: a question (reload, sessions, kick, ...) or the order to stop. */
export type ToWorker = { t: 'ask'; id: number; what: string; arg?: unknown } | { t: 'shutdown'; deadlineMs: number };

/** Worker to primary: started (with its listeners), or the answer to a question. */
export type ToPrimary = { t: 'ready'; listeners: Array<{ label: string; address: string; port: number }> } | { t: 'answer'; id: number; ok: boolean; value?: unknown; error?: string };

const kinds = (m: unknown): string | undefined => (typeof m === 'object' && m !== null && typeof (m as { t?: unknown }).t === 'string' ? (m as { t: string }).t : undefined);

export function isToWorker(m: unknown): m is ToWorker {
  const t = kinds(m);
  return t === 'ask' || t === 'shutdown';
}

export function isToPrimary(m: unknown): m is ToPrimary {
  const t = kinds(m);
  return t === 'ready' || t === 'answer';
}
