import type { Worker } from 'node:cluster';
import { InProcessCounter, leaseOnce, type Acquired, type ConnectionCounter, type CountRequest, type Lease } from '../net/index.js';
import { Allotment, Pool, type WorkerLink } from './total.js';
import { isToWorker, type ToPrimary, type ToWorker } from './messages.js';

/**
 * A worker's connection counter. The per-user+address and per-address counts live in the
 * primary (one round trip per counted login, as Dovecot's anvil); the total is counted against
 * the places this worker holds from the primary's pool (see total.ts), with no round trip per
 * connection until they run out.
 */
export class WorkerCounter implements ConnectionCounter {
  readonly #total: Allotment;
  readonly #waiting = new Map<number, (m: Extract<ToWorker, { t: 'counted' }> | undefined) => void>();
  #next = 0;

  constructor(workers: number) {
    this.#total = new Allotment({ send: (m) => process.send?.(m), connected: () => process.connected }, workers);
    process.on('disconnect', () => {
      this.#total.disconnected();
      for (const answer of [...this.#waiting.values()]) answer(undefined);
    });
    process.on('message', (m: unknown) => {
      if (!isToWorker(m)) return;
      if (m.t === 'counted') this.#waiting.get(m.id)?.(m);
      else if (m.t === 'placed' || m.t === 'reclaim') this.#total.onMessage(m);
    });
  }

  async acquire(requests: readonly CountRequest[]): Promise<Acquired> {
    const total = requests.find((r) => r.key.limit === 'total');
    const there = requests.filter((r) => r.key.limit !== 'total');
    if (total && !(await this.#total.take(total.max))) return { kind: 'refused', key: total.key, max: total.max };
    const local = total ? leaseOnce(() => this.#total.give()) : leaseOnce(() => {});
    if (there.length === 0) return { kind: 'granted', lease: local };
    const id = ++this.#next;
    const answer = await new Promise<Extract<ToWorker, { t: 'counted' }> | undefined>((resolve) => {
      if (!process.connected) return resolve(undefined);
      this.#waiting.set(id, resolve);
      process.send?.({ t: 'acquire', id, requests: there } satisfies ToPrimary);
    });
    this.#waiting.delete(id);
    // No primary to ask (it is going away): counted here alone.
    if (answer === undefined) return { kind: 'granted', lease: local };
    if (!answer.granted) {
      local.release();
      return { kind: 'refused', key: answer.key, max: answer.max };
    }
    return {
      kind: 'granted',
      lease: leaseOnce(() => {
        local.release();
        if (process.connected) process.send?.({ t: 'release', lease: answer.lease } satisfies ToPrimary);
      }),
    };
  }
}

/** The primary's side: the cluster-wide counts, and which worker holds which lease. */
export class CountKeeper {
  readonly #counter = new InProcessCounter();
  readonly #leases = new Map<Worker, Map<number, Lease>>();
  readonly #total = new Pool();
  #next = 0;

  /** Answers the worker's counting messages; its leases and places are given back when it exits. */
  serve(worker: Worker): void {
    const held = new Map<number, Lease>();
    this.#leases.set(worker, held);
    const link: WorkerLink = { send: (m) => this.#send(worker, m) };
    this.#total.join(link);
    worker.on('message', (m: unknown) => {
      const msg = m as ToPrimary;
      if (msg?.t === 'places' || msg?.t === 'return') {
        this.#total.onMessage(link, msg);
      } else if (msg?.t === 'acquire') {
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
      this.#total.leave(link);
      for (const l of held.values()) l.release();
      this.#leases.delete(worker);
    });
  }

  #send(worker: Worker, m: ToWorker): void {
    if (worker.isConnected()) worker.send(m);
  }
}
