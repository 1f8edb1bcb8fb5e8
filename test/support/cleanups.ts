import { afterEach } from 'node:test';

/** What a test started (listeners, sockets, processes), undone after each test, the last first. */
export function cleanupsAfterEach(): Array<() => void | Promise<void>> {
  const cleanups: Array<() => void | Promise<void>> = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });
  return cleanups;
}
