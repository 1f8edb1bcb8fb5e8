// 50,000 idle proxied sessions on one machine (issue 6), beyond what one process's descriptor
// limit allows: postern with several workers, one fake backend and one load generator per
// SHARE sessions. Each process stays under a 20,000-descriptor hard limit; each load generator
// comes from its own loopback address and each backend listens on its own port, so no address
// pair needs more than Linux's 28,000 ephemeral ports.
//   npm run build && node dist/bench/idle-many.js [--sessions 50000] [--workers 8] [--hold 10]
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { freePort, makeTempDir, spawnProcess, waitForListening, type ManagedProcess } from '../test/interop/harness/index.js';
import { startFakeBackend, type FakeBackend } from './backend.js';
import { BENCH_SOURCE_DIR, buildCTools } from './cbuild.js';
import { describeErrors, mergeFailures, runLoadgen, type IdleReady } from './loadgen.js';
import { processTree, treeMemory, type TreeMemory } from './procstat.js';

/** Sessions per load generator and per fake backend: two descriptors each side stays under 20,000. */
const SHARE = 16_667;
const USERS = 1000;

const { values } = parseArgs({ options: { sessions: { type: 'string', default: '50000' }, workers: { type: 'string', default: '8' }, hold: { type: 'string', default: '10' } } });
const sessions = Number(values.sessions);
const workers = Number(values.workers);
const holdS = Number(values.hold);
const groups = Math.ceil(sessions / SHARE);
const mib = (b: number) => (b / 2 ** 20).toFixed(1);

const dir = makeTempDir('bench-idle-many');
const backends: FakeBackend[] = [];
let postern: ManagedProcess | undefined;
try {
  const tools = await buildCTools(dir.path);
  for (let g = 0; g < groups; g++) backends.push(await startFakeBackend(tools.fakeBackend));
  // Users of group g (prefix u<g>) go to backend g.
  const users = join(dir.path, 'users');
  writeFileSync(users, backends.flatMap((b, g) => Array.from({ length: USERS }, (_, i) => `u${g}${String(i).padStart(4, '0')}:{PLAIN}pw${String(i).padStart(4, '0')}::::::proxy=y host=127.0.0.1 port=${b.port}\n`)).join(''));
  const port = await freePort();
  const listen = backends.map((_, g) => ({ protocol: 'imap', address: `127.0.0.${g + 1}`, port, tls: 'none' }));
  const config = join(dir.path, 'postern.json');
  writeFileSync(config, JSON.stringify({ process: { workers }, log: { level: 'warn' }, listen, login_trusted_networks: ['127.0.0.0/8'], limits: { max_connections: sessions + 10_000 }, auth: { failure_delay: 0, passdb: [{ driver: 'passwd-file', args: users }] } }));
  postern = spawnProcess(process.execPath, [join(BENCH_SOURCE_DIR, '..', 'bin', 'postern.js'), 'serve', '--config', config], { stopTimeoutMs: 30_000 });
  // At log level warn nothing says it listens: the port does.
  await waitForListening([port], 30_000);
  const pid = postern.pid!;
  // Every worker runs its login path once before memory is read.
  await runLoadgen(tools.loadgen, ['--mode', 'login', '--port', String(port), '--conns', '20', '--duration', '3', '--warmup', '0', '--users', String(USERS), '--user-prefix', 'u0'], { parties: new Map(), timeoutMs: 60_000 });
  const before = treeMemory(pid);
  const started = Date.now();

  // The load generators hold their sessions until every one is in and memory is read.
  let readyCount = 0;
  let allReady!: () => void;
  const everyoneIn = new Promise<void>((resolve) => (allReady = resolve));
  let after: TreeMemory | undefined;
  let descriptors: number[] = [];
  const readies: IdleReady[] = [];
  const measured = everyoneIn.then(async () => {
    await new Promise((r) => setTimeout(r, 3000));
    after = treeMemory(pid);
    descriptors = processTree(pid).map((p) => p.pid).filter((p) => p !== pid).map((p) => countDescriptors(p));
    await new Promise((r) => setTimeout(r, holdS * 1000));
  });
  const runs = await Promise.all(
    backends.map((_, g) =>
      runLoadgen(tools.loadgen, ['--mode', 'idle', '--host', `127.0.0.${g + 1}`, '--port', String(port), '--sessions', String(Math.min(SHARE, sessions - g * SHARE)), '--conns', '100', '--timeout', '300', '--users', String(USERS), '--user-prefix', `u${g}`], {
        parties: new Map(),
        timeoutMs: 600_000,
        onReady: async (ready) => {
          readies.push(ready);
          if (++readyCount === groups) allReady();
          await measured;
        },
      }),
    ),
  );
  const reached = readies.reduce((n, r) => n + r.sessions, 0);
  const errors = readies.reduce((n, r) => n + r.errors, 0);
  const why = describeErrors(mergeFailures(readies));
  const dropped = runs.reduce((n, r) => n + (r.result.dropped ?? 0), 0);
  const seconds = (Math.max(...readies.map((r) => r.seconds)) || (Date.now() - started) / 1000).toFixed(1);
  console.log(`sessions: ${reached} of ${sessions} in ${seconds} s, ${errors} errors${why ? ` (${why}; each retried after 10 ms)` : ''}; after a ${holdS} s hold, ${dropped} dropped`);
  console.log(`postern processes: ${before.processes} → ${after?.processes}; RSS ${mib(before.rssBytes)} → ${mib(after?.rssBytes ?? 0)} MiB, ${((((after?.rssBytes ?? 0) - before.rssBytes) / Math.max(1, reached)) / 1024).toFixed(2)} KiB a session`);
  console.log(`descriptors per worker: ${descriptors.join(' ')}`);
  const warnings = postern.stdout().split('\n').filter((l) => /"level":[456]0/.test(l));
  const byEvent = new Map<string, { n: number; first: string }>();
  for (const w of warnings) {
    const event = /"event":"([^"]+)"/.exec(w)?.[1] ?? '?';
    const seen = byEvent.get(event);
    if (seen) seen.n++;
    else byEvent.set(event, { n: 1, first: w });
  }
  console.log(`postern warning or error lines: ${warnings.length}${[...byEvent].map(([e, { n, first }]) => `\n  ${e} × ${n}, the first: ${first}`).join('')}`);
} finally {
  await postern?.stop();
  for (const b of backends) await b.stop();
  dir.remove();
}

function countDescriptors(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}
