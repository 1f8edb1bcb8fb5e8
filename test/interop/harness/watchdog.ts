// Runs as a separate process beside a test process. When its stdin closes (the test process is gone,
// however it died: SIGKILL, or a crash in node:test's own exception handler, which skips 'exit' hooks),
// it SIGKILLs the registered process groups and removes the registered folders.
// Protocol, one JSON object a line: {"op":"add"|"del","group":<pgid>} or {"op":"add"|"del","dir":<path>}.
import { rmSync } from 'node:fs';
import { createInterface } from 'node:readline';

const groups = new Set<number>();
const dirs = new Set<string>();
const GROUP_EXIT_GRACE_MS = 300;

process.on('SIGINT', () => undefined); // only the closing pipe ends us
process.on('SIGHUP', () => undefined);

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  try {
    const msg = JSON.parse(line) as { op?: string; group?: number; dir?: string };
    const add = msg.op === 'add';
    if (typeof msg.group === 'number' && msg.group > 1) add ? groups.add(msg.group) : groups.delete(msg.group);
    if (typeof msg.dir === 'string' && msg.dir !== '') add ? dirs.add(msg.dir) : dirs.delete(msg.dir);
  } catch {
    // ignore garbage
  }
});
lines.on('close', () => {
  for (const group of groups) {
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // gone
    }
  }
  setTimeout(
    () => {
      for (const dir of dirs) rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      process.exit(0);
    },
    groups.size > 0 ? GROUP_EXIT_GRACE_MS : 0,
  );
});
