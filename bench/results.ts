// bench/RESULTS.md: where the benchmark's scripts append their dated sections.
import { appendFileSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BENCH_SOURCE_DIR } from './cbuild.js';

export const RESULTS_FILE = join(BENCH_SOURCE_DIR, 'RESULTS.md');

const RESULTS_HEADER = `# Benchmark results

Written by \`npm run bench\` (see [README.md](README.md) for what it starts, what it measures and what it
needs). Each run appends a dated section; short-mode runs are marked and are for a quick look only.
`;

/** Appends `section` to RESULTS.md, which is started with its header if it is not there. */
export function appendResults(section: string): void {
  if (!existsSync(RESULTS_FILE)) writeFileSync(RESULTS_FILE, RESULTS_HEADER);
  appendFileSync(RESULTS_FILE, `\n${section}`);
}

/** Now, as a section's heading gives it: `2026-11-23 21:26` (UTC). */
export const utcMinute = (): string => new Date().toISOString().replace('T', ' ').slice(0, 16);

/** The command that produced a section: this script with the arguments it was given. */
export function commandLine(script: string): string {
  const args = process.argv.slice(2).join(' ');
  return `node dist/bench/${script}${args ? ` ${args}` : ''}`;
}
