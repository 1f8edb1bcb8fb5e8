// A thread of the verify pool (pool.ts): answers each job with verifyHere's result.
import { parentPort } from 'node:worker_threads';
import { verifyHere } from './registry.js';

parentPort?.on('message', (m: { id: number; plain: string; stored: string; defaultScheme: string; user: string }) => {
  void verifyHere(m.plain, m.stored, m.defaultScheme, m.user).then((result) => parentPort?.postMessage({ id: m.id, result }));
});
