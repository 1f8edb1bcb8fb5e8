/**
 * What a wait or a backend login listens to for "give up": the client left, postern is stopping.
 * An AbortSignal is one; so is an `Aborter`, which a login session makes instead.
 */
export interface AbortLike {
  readonly aborted: boolean;
  addEventListener(type: 'abort', listener: () => void, options?: { once?: boolean }): void;
  removeEventListener(type: 'abort', listener: () => void): void;
}

/**
 * An AbortController and its signal in one small object, for the one a login session makes per
 * login. Node's AbortController is an EventTarget: building one and adding a listener cost about 5 %
 * of a proxied login's instructions (bench/RESULTS.md, item 43). Listeners run once, in the order
 * they were added; there are no events, reasons or `throwIfAborted`.
 */
export class Aborter implements AbortLike {
  #aborted = false;
  #listeners: (() => void)[] | undefined;

  get aborted(): boolean {
    return this.#aborted;
  }

  /** Every listener is told once, at the abort; one added after it is never told. */
  addEventListener(_type: 'abort', listener: () => void): void {
    if (!this.#aborted) (this.#listeners ??= []).push(listener);
  }

  removeEventListener(_type: 'abort', listener: () => void): void {
    const listeners = this.#listeners;
    const i = listeners?.indexOf(listener) ?? -1;
    if (i >= 0) listeners!.splice(i, 1);
  }

  abort(): void {
    if (this.#aborted) return;
    this.#aborted = true;
    const listeners = this.#listeners;
    this.#listeners = undefined;
    if (listeners !== undefined) for (const listener of listeners) listener();
  }
}

/** Resolves after `ms`, or at once when `signal` aborts (it never rejects). */
export function sleep(ms: number, signal?: AbortLike): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
