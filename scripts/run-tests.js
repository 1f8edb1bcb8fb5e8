#!/usr/bin/env node
// Runs every compiled *.test.js under dist/ with node's test runner.
// `npm test -- imap proxy` runs only the files whose path contains one of the words.
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = walk('dist', []).filter((f) => filters.length === 0 || filters.some((w) => relative('dist', f).includes(w))).sort();
if (files.length === 0) {
  console.error(`no test files found${filters.length ? ` for ${filters.join(' ')}` : ''}`);
  process.exit(1);
}
const res = spawnSync(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(res.status ?? 1);
