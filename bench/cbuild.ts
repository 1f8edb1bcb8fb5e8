// Compiles the C load generator and fake backend into a temp folder at run time (no binary is committed).
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { findBinary, runCommand } from '../test/interop/harness/index.js';

/** bench/ in the source tree (this file runs from dist/bench/). */
export const BENCH_SOURCE_DIR = fileURLToPath(new URL('../../bench/', import.meta.url));

const OPENSSL_HEADER = '/usr/include/openssl/ssl.h';

export interface CTools {
  loadgen: string;
  fakeBackend: string;
}

/** Why the C tools cannot be built here, or undefined. */
export function cbuildSkipReason(): string | undefined {
  const missing: string[] = [];
  if (findBinary('cc') === undefined) missing.push('cc (apt-get install gcc)');
  if (!existsSync(OPENSSL_HEADER)) missing.push(`${OPENSSL_HEADER} (apt-get install libssl-dev)`);
  return missing.length === 0 ? undefined : `missing ${missing.join(', ')}`;
}

async function compile(source: string, output: string, libs: string[]): Promise<void> {
  const args = ['-O2', '-Wall', '-o', output, join(BENCH_SOURCE_DIR, source), ...libs];
  const result = await runCommand('cc', args, { timeoutMs: 60_000 });
  if (result.code !== 0) throw new Error(`cc ${args.join(' ')} failed:\n${result.stderr}`);
}

export async function buildCTools(dir: string): Promise<CTools> {
  const tools = { loadgen: join(dir, 'loadgen'), fakeBackend: join(dir, 'fake-backend') };
  await Promise.all([
    compile('loadgen.c', tools.loadgen, ['-lssl', '-lcrypto']),
    compile('fake-backend.c', tools.fakeBackend, []),
  ]);
  return tools;
}
