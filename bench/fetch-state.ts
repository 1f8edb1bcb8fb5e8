// The backend's side of the FETCH figures' spread (RESULTS.md items 47, 53, 55): FETCH sessions straight to
// the Dovecot backend one after another, pinned as `fetch-pinned` is, each one's rate beside the backend
// process that served it, with the user's index files removed every `--reset` sessions.
//   npm run build && node dist/bench/fetch-state.js [--sessions 24] [--seconds 1.5] [--reset 0] [--users 50]
//     [--dovecot 'setting = value']   (Dovecot settings added to the backend's, `;` between them)
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { makeTempDir } from '../test/interop/harness/index.js';
import { loadgenUserArgs, startBackend, userName } from './backend.js';
import { buildCTools } from './cbuild.js';
import { PINNED } from './figures.js';
import { runLoadgen } from './loadgen.js';
import { pinTree } from './procstat.js';
import { describeBusiest } from './report.js';

const { values } = parseArgs({ options: { sessions: { type: 'string', default: '24' }, seconds: { type: 'string', default: '1.5' }, reset: { type: 'string', default: '0' }, users: { type: 'string', default: '50' }, dovecot: { type: 'string', default: '' } } });
const sessions = Number(values.sessions);
const seconds = Number(values.seconds);
const resetEvery = Number(values.reset);
const users = Number(values.users);
if (![sessions, seconds, users].every((n) => n > 0) || !(resetEvery >= 0)) throw new Error('--sessions, --seconds and --users want positive numbers, --reset zero or more');

const dir = makeTempDir('bench-fetch-state');
const tools = await buildCTools(dir.path);
const backend = await startBackend(users, values.dovecot.split(';').map((l) => `${l.trim()}\n`).join(''));
const master = backend.dovecot.masterPid;
// The load generator's FETCH session logs in as the first user.
const maildir = backend.dovecot.maildir(userName(0));
try {
  pinTree(master, PINNED.backend);
  console.log('session\tMiB/s\tbackend process');
  for (let i = 0; i < sessions; i++) {
    if (resetEvery > 0 && i % resetEvery === 0) {
      // Dovecot rebuilds them from the Maildir at the next SELECT.
      for (const f of readdirSync(maildir)) if (f.startsWith('dovecot')) rmSync(join(maildir, f), { recursive: true, force: true });
      console.log('(index files removed)');
    }
    const args = ['--mode', 'fetch', '--port', String(backend.dovecot.ports.imap), '--warmup', '0.3', '--duration', String(seconds), '--msg', '1', ...loadgenUserArgs(users)];
    const run = await runLoadgen(tools.loadgen, args, { parties: new Map([['backend', master]]), timeoutMs: (seconds + 30) * 1000, busiest: true, cpus: PINNED.proxyAndClient });
    console.log(`${i}\t${(run.result.bytes_per_s / 2 ** 20).toFixed(0)}\t${describeBusiest(run.cpu.busiest?.['backend'])}`);
  }
} finally {
  await backend.dovecot.stop();
  dir.remove();
}
