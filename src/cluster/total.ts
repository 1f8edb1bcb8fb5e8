import type { ToPrimary, ToWorker } from './messages.js';

/**
 * limits.max_connections across workers. The primary keeps the pool of places; each worker
 * holds a block of them and counts its connections against what it holds, with no round trip
 * per connection. A worker that runs out asks for another block; when the pool is empty the
 * primary first takes back what the other workers hold unused, so a connection is refused only
 * when the whole node is full, however unevenly the kernel spreads the accepts.
 */

/** Places handed out per ask: a sixteenth of one worker's even share, at least one. */
export function placesPerAsk(max: number, workers: number): number {
  return Math.max(1, Math.floor(max / (Math.max(1, workers) * 16)));
}

/** The worker's way to the primary (process.send and its 'message' events, or a test's pair). */
export interface PrimaryLink {
  send(m: ToPrimary): void;
  connected(): boolean;
}

/** The worker's side: places held, places used. */
export class Allotment {
  readonly #link: PrimaryLink;
  readonly #workers: number;
  readonly #asked = new Map<number, (places: number) => void>();
  #used = 0;
  #held = 0;
  /** Takes waiting for an answer to an ask: places that come in are theirs, not spare. */
  #wanting = 0;
  #max = 0;
  #next = 0;
  /** The ask under way: waiters share it rather than each draining the pool. */
  #asking: Promise<number> | undefined;

  constructor(link: PrimaryLink, workers: number) {
    this.#link = link;
    this.#workers = workers;
  }

  /** One place under `max`, or false when the node is full. */
  async take(max: number): Promise<boolean> {
    // A reload lowered the limit: places held under the old one go back before any is used.
    if (max < this.#max && this.#held > this.#used) this.#return(this.#held - this.#used);
    this.#max = max;
    // Each pass either gains places or ends: the pool is finite.
    while (this.#used >= this.#held) {
      if (!this.#link.connected()) break; // No primary (it is going away): counted here alone.
      this.#wanting++;
      const got = await this.#more(max).finally(() => this.#wanting--);
      if (got === 0 && this.#used >= this.#held && this.#link.connected()) return false;
    }
    this.#used++;
    return true;
  }

  /** Gives one place back; a spare of more than two blocks goes back to the pool. */
  give(): void {
    this.#used--;
    const block = placesPerAsk(this.#max, this.#workers);
    const spare = this.#held - this.#used;
    if (spare > 2 * block) this.#return(spare - block);
  }

  /** Primary to worker: an answer to an ask, or a request for every unused place. */
  onMessage(m: ToWorker): void {
    if (m.t === 'placed') {
      this.#asked.get(m.id)?.(m.places);
    } else if (m.t === 'reclaim') {
      // An answer and a reclaim may come in one read of the channel, before the takes the answer
      // was for have run: the places they are about to use are not spare.
      this.#return(Math.max(0, this.#held - this.#used - this.#wanting), m.id);
    }
  }

  /** The primary is gone: asks under way get no answer; their connections are counted here alone. */
  disconnected(): void {
    for (const answer of [...this.#asked.values()]) answer(0);
  }

  /** Places used and held (tests). */
  get counts(): { used: number; held: number } {
    return { used: this.#used, held: this.#held };
  }

  #more(max: number): Promise<number> {
    this.#asking ??= new Promise<number>((resolve) => {
      const id = ++this.#next;
      this.#asked.set(id, (places) => {
        this.#asked.delete(id);
        this.#asking = undefined;
        this.#held += places;
        resolve(places);
      });
      this.#link.send({ t: 'places', id, max });
    });
    return this.#asking;
  }

  #return(places: number, reclaim?: number): void {
    this.#held -= places;
    if (this.#link.connected()) this.#link.send({ t: 'return', places, ...(reclaim !== undefined ? { reclaim } : {}) });
  }
}

/** The primary's view of one worker. */
export interface WorkerLink {
  send(m: ToWorker): void;
}

/** How long the primary waits for workers to give back unused places before it answers. */
const RECLAIM_WAIT_MS = 500;
/** Reclaims one ask may wait for, each bringing places back that asks before it took. */
const RECLAIM_ROUNDS = 4;

/** One round of asking every worker for its unused places. */
interface Reclaim {
  id: number;
  /** The workers that have not answered yet. */
  waiting: Set<WorkerLink>;
  /** Settles with `returned` once all have answered, or after RECLAIM_WAIT_MS. */
  done: Promise<number>;
  /** Places given back in answer to it. */
  returned: number;
  end: () => void;
}

/** The primary's side: the pool, and how many places each worker holds. */
export class Pool {
  readonly #held = new Map<WorkerLink, number>();
  #max = 0;
  #free = 0;
  #next = 0;
  /** The reclaim under way. */
  #reclaim: Reclaim | undefined;

  join(worker: WorkerLink): void {
    this.#held.set(worker, 0);
  }

  /** A worker that exited: its connections are gone, its places come back. */
  leave(worker: WorkerLink): void {
    this.#free += this.#held.get(worker) ?? 0;
    this.#held.delete(worker);
    this.#answered(worker);
  }

  /** Worker to primary: an ask for places, or places given back. */
  onMessage(worker: WorkerLink, m: ToPrimary): void {
    if (m.t === 'places') void this.#ask(worker, m.id, m.max);
    else if (m.t === 'return') this.#returned(worker, m.places, m.reclaim);
  }

  /** A worker asks for places under `max` (the limit its configuration says). */
  async #ask(worker: WorkerLink, id: number, max: number): Promise<void> {
    this.#limit(max);
    // A reclaim's places may go to asks served before this one (another worker's, answered while
    // the reclaim waited): then one more, as long as reclaims bring places back. Refused only when
    // the workers had none to spare, or after a bounded number of rounds.
    for (let round = 0; this.#free <= 0 && round < RECLAIM_ROUNDS; round++) {
      if ((await this.#reclaimAll()) === 0) break;
    }
    const places = Math.max(0, Math.min(this.#free, placesPerAsk(this.#max, this.#held.size)));
    // A worker that left while the reclaim ran gets nothing: its places were counted back.
    if (!this.#held.has(worker)) return;
    this.#free -= places;
    this.#held.set(worker, this.#held.get(worker)! + places);
    worker.send({ t: 'placed', id, places });
  }

  /** A worker gives places back, unasked or in answer to a reclaim. */
  #returned(worker: WorkerLink, places: number, reclaim?: number): void {
    const held = this.#held.get(worker);
    if (held === undefined) return;
    const n = Math.min(places, held);
    this.#held.set(worker, held - n);
    this.#free += n;
    const under = this.#reclaim;
    if (reclaim !== undefined && reclaim === under?.id) {
      under.returned += n;
      this.#answered(worker);
    }
  }

  /** Free places and what each worker holds (tests). */
  get counts(): { free: number; held: number[] } {
    return { free: this.#free, held: [...this.#held.values()] };
  }

  /** A reload may change the limit; the free count follows, and a lower one takes spare places back. */
  #limit(max: number): void {
    if (max === this.#max) return;
    const lower = max < this.#max;
    this.#free += max - this.#max;
    this.#max = max;
    if (lower) void this.#reclaimAll();
  }

  /** Asks every worker for its unused places; resolves to how many came back. */
  #reclaimAll(): Promise<number> {
    if (this.#reclaim) return this.#reclaim.done;
    let resolve!: (returned: number) => void;
    const reclaim: Reclaim = {
      id: ++this.#next,
      waiting: new Set(this.#held.keys()),
      done: new Promise<number>((r) => (resolve = r)),
      returned: 0,
      end: () => {
        clearTimeout(timer);
        if (this.#reclaim === reclaim) this.#reclaim = undefined;
        resolve(reclaim.returned);
      },
    };
    const timer = setTimeout(reclaim.end, RECLAIM_WAIT_MS);
    this.#reclaim = reclaim;
    for (const w of reclaim.waiting) w.send({ t: 'reclaim', id: reclaim.id });
    if (reclaim.waiting.size === 0) reclaim.end();
    return reclaim.done;
  }

  #answered(worker: WorkerLink): void {
    const r = this.#reclaim;
    if (!r || !r.waiting.delete(worker)) return;
    if (r.waiting.size === 0) r.end();
  }
}
