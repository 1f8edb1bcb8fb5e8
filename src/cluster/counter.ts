import type { Worker } from 'node:cluster';
import { InProcessCounter, leaseOnce, type Acquired, type ConnectionCounter, type CountRequest, type Lease } from '../net/index.js';
import { isToWorker, type ToPrimary, type ToWorker } from './messages.js';

/**
 * A worker's connection counter. The per-user+address and per-address counts live in the
 * primary (one round trip per counted login, as Dovecot's anvil); the total is split evenly
 * between the workers and counted here, since Dovecot's is a per-process limit too.
 */
export class WorkerCounter implements ConnectionCounter {
  readonly #local = new InProcessCounter();
  readonly #workers: number;
  readonly #waiting = new Map<number, (m: Extract<ToWorker, { t: 'counted' }>) => void>();
  #next = 0;

  constructor(workers: number) {
    this.#workers = workers;
    process.on('message', (m: unknown) => {
      if (isToWorker(m) && m.t === 'counted') this.#waiting.get(m.id)?.(m);
    });
  }

  async acquire(requests: readonly CountRequest[]): Promise<Acquired> {
    const here = requests.filter((r) => r.key.limit === 'total').map((r) => ({ key: r.key, max: Math.ceil(r.max / this.#workers) }));
    const there = requests.filter((r) => r.key.limit !== 'total');
    const local = this.#local.acquire(here);
    if (local.kind === 'refused' || there.length === 0) return local;
    const id = ++this.#next;
    const answer = await new Promise<Extract<ToWorker, { t: 'counted' }> | undefined>((resolve) => {
      if (!process.connected) return resolve(undefined);
      this.#waiting.set(id, resolve);
      process.send?.({ t: 'acquire', id, requests: there } satisfies ToPrimary);
    });
    this.#waiting.delete(id);
    // No primary to ask (it is going away): counted here alone.
    if (answer === undefined) return { kind: 'granted', lease: local.lease };
    if (!answer.granted) {
      local.lease.release();
      return { kind: 'refused', key: answer.key, max: answer.max };
    }
    return {
      kind: 'granted',
      lease: leaseOnce(() => {
        local.lease.release();
        if (process.connected) process.send?.({ t: 'release', lease: answer.lease } satisfies ToPrimary);
      }),
    };
  }
}

/** The primary's side: the cluster-wide counts, and which worker holds which lease. */
export class CountKeeper {
  readonly #counter = new InProcessCounter();
  readonly #leases = new Map<Worker, Map<number, Lease>>();
  #next = 0;

  /** Answers the worker's counting messages; its leases are given back when it exits. */
  serve(worker: Worker): void {
    const held = new Map<number, Lease>();
    this.#leases.set(worker, held);
    worker.on('message', (m: unknown) => {
      const msg = m as ToPrimary;
      if (msg?.t === 'acquire') {
        const got = this.#counter.acquire(msg.requests);
        if (got.kind === 'refused') return this.#send(worker, { t: 'counted', id: msg.id, granted: false, key: got.key, max: got.max });
        const lease = ++this.#next;
        held.set(lease, got.lease);
        this.#send(worker, { t: 'counted', id: msg.id, granted: true, lease });
      } else if (msg?.t === 'release') {
        held.get(msg.lease)?.release();
        held.delete(msg.lease);
      }
    });
    worker.once('exit', () => {
      for (const l of held.values()) l.release();
      this.#leases.delete(worker);
    });
  }

  #send(worker: Worker, m: ToWorker): void {
    if (worker.isConnected()) worker.send(m);
  }
}
