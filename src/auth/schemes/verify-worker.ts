// A thread of the verify pool (pool.ts): answers each job with verifyHere's result.
import { parentPort } from 'node:worker_threads';
import type { VerifyJob } from './pool.js';
import { verifyHere } from './registry.js';

parentPort?.on('message', (m: VerifyJob & { id: number }) => {
  void verifyHere(m.plain, m.stored, m.defaultScheme, m.user).then((result) => parentPort?.postMessage({ id: m.id, result }));
});
