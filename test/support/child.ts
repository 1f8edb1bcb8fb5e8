import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';

/** A module's URL for a child's `import()`, as a string literal, from the test file's own `import.meta.url`. */
export const moduleUrl = (path: string, from: string): string => JSON.stringify(new URL(path, from).href);

/** Fills the child's descriptors with /dev/null (into `fds`) until it has none left. */
export const FILL_DESCRIPTORS = `const { openSync, closeSync } = await import('node:fs'); const fds = []; try { for (;;) fds.push(openSync('/dev/null', 'r')); } catch {}`;

/**
 * Runs `script` (an ES module) in a child Node, at most 20 s, for what a test must not do to its own
 * process; asserts that it exits 0 and returns the JSON it printed last. `wrapper` runs the child
 * (prlimit, taskset ...).
 */
export function inChild<T>(script: string, wrapper: string[] = []): T {
  const argv = [...wrapper, process.execPath, '--input-type=module', '-e', script];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: 20_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as T;
}

/** inChild under an open-file limit of `limit` (prlimit). */
export function underFileLimit<T>(limit: number, script: string): T {
  return inChild(script, ['prlimit', `--nofile=${limit}:${limit}`, '--']);
}
