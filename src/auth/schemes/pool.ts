import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';

export interface VerifyJob {
  plain: string;
  stored: string;
  defaultScheme: string;
  user: string;
}

export type PoolResult = { ok: boolean } | { error: string };

interface Slot {
  worker: Worker;
  busy: number;
}

/** At most this many threads per process; each postern worker process has its own pool. */
const MAX_THREADS = 4;

/**
 * Threads that verify work-factor password schemes (SHA-crypt, bcrypt, Argon2, PBKDF2), so a
 * login that costs 100 ms of hashing does not stall every other session of the process.
 * Started on first use; the threads do not keep the process alive.
 */
export class VerifyPool {
  readonly #size: number;
  readonly #slots: Slot[] = [];
  readonly #pending = new Map<number, { slot: Slot; resolve: (r: PoolResult) => void }>();
  #next = 0;

  constructor(size = Math.max(1, Math.min(MAX_THREADS, availableParallelism()))) {
    this.#size = size;
  }

  verify(job: VerifyJob): Promise<PoolResult> {
    const slot = this.#slot();
    const id = ++this.#next;
    // A thread with work keeps the process alive until it answers; an idle one does not.
    if (slot.busy++ === 0) slot.worker.ref();
    return new Promise((resolve) => {
      this.#pending.set(id, { slot, resolve });
      slot.worker.postMessage({ id, ...job });
    });
  }

  /** The least busy thread, a new one while fewer than `size` run. */
  #slot(): Slot {
    const idle = this.#slots.find((s) => s.busy === 0);
    if (idle) return idle;
    if (this.#slots.length < this.#size) return this.#spawn();
    return this.#slots.reduce((a, b) => (b.busy < a.busy ? b : a));
  }

  #spawn(): Slot {
    const worker = new Worker(new URL('./verify-worker.js', import.meta.url));
    const slot: Slot = { worker, busy: 0 };
    worker.on('message', (m: { id: number; result: PoolResult }) => {
      const p = this.#pending.get(m.id);
      if (!p) return;
      this.#pending.delete(m.id);
      if (--p.slot.busy === 0) p.slot.worker.unref();
      p.resolve(m.result);
    });
    // A thread that dies fails its jobs as broken data (a temporary failure for the login), and is replaced on demand.
    const gone = (why: string) => {
      const i = this.#slots.indexOf(slot);
      if (i >= 0) this.#slots.splice(i, 1);
      for (const [id, p] of this.#pending) {
        if (p.slot !== slot) continue;
        this.#pending.delete(id);
        p.resolve({ error: `password verification thread failed: ${why}` });
      }
    };
    worker.on('error', (err) => gone(err.message));
    worker.on('exit', (code) => gone(`exit code ${code}`));
    // Idle from the start (after the listeners: adding a 'message' listener refs the thread again).
    worker.unref();
    this.#slots.push(slot);
    return slot;
  }
}

let pool: VerifyPool | undefined;

/** The process's pool. */
export function verifyPool(): VerifyPool {
  return (pool ??= new VerifyPool());
}
