// postern with the configuration equivalent to the others: a static passdb that sends every user to
// the backend with the password it was given (the backend checks it), plain and implicit-TLS listeners.
import { execFileSync, spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePorts, makeTempDir, runCommand, spawnProcess, wrapped } from '../../test/interop/harness/index.js';
import { startTimeoutMs, whenListening } from './started.js';
import type { Protocol, ProxySpec, RunningTarget, Target } from './types.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * A copy of the built postern (dist/src, bin, package.json; node_modules linked) in `dir`, so that a
 * rebuild of the working tree during the run (`npm run build` empties dist/) cannot change or break
 * what is measured. Returns the path of its bin/postern.js.
 */
export function snapshotPostern(dir: string): string {
  mkdirSync(join(dir, 'bin'), { recursive: true });
  cpSync(join(REPO, 'dist', 'src'), join(dir, 'dist', 'src'), { recursive: true });
  copyFileSync(join(REPO, 'bin', 'postern.js'), join(dir, 'bin', 'postern.js'));
  copyFileSync(join(REPO, 'package.json'), join(dir, 'package.json'));
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  // The native relay, when the working tree has it built.
  const addon = join(REPO, 'native', 'build', 'Release', 'postern_relay.node');
  if (existsSync(addon)) {
    mkdirSync(join(dir, 'native', 'build', 'Release'), { recursive: true });
    copyFileSync(addon, join(dir, 'native', 'build', 'Release', 'postern_relay.node'));
  }
  return join(dir, 'bin', 'postern.js');
}

/**
 * postern as committed at `rev` (`git archive`, then tsc) in `dir`: to measure a commit rather than the
 * working tree, or two commits one after the other. Returns its bin/postern.js and the full commit id.
 * test/ comes along because test harnesses kept in src/ import its helpers (tsc compiles only what
 * src/ imports from it); the *.test.ts files are left out.
 */
export function buildPosternAt(rev: string, dir: string): { bin: string; commit: string } {
  const commit = execFileSync('git', ['rev-parse', '--verify', `${rev}^{commit}`], { cwd: REPO, encoding: 'utf8' }).trim();
  mkdirSync(dir, { recursive: true });
  // Revisions with the native relay bring its source and build script, and build it as `npm ci` does.
  const native = spawnSync('git', ['cat-file', '-e', `${commit}:native/relay.c`], { cwd: REPO }).status === 0;
  const paths = ['src', 'test', 'bin', 'package.json', ...(native ? ['native', 'scripts/build-native.js'] : [])];
  const tar = execFileSync('git', ['archive', '--format=tar', commit, ...paths], { cwd: REPO, maxBuffer: 256 * 2 ** 20 });
  execFileSync('tar', ['-x', '-C', dir], { input: tar });
  if (native) {
    execFileSync('npm', ['run', 'install'], { cwd: dir, stdio: 'pipe' });
    // build-native.js lets postern run without the relay; a measured revision must not do so unnoticed.
    if (!existsSync(join(dir, 'native', 'build', 'Release', 'postern_relay.node'))) throw new Error(`postern at ${rev}: the native relay did not build`);
  }
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  const tsconfig = JSON.parse(readFileSync(join(REPO, 'tsconfig.json'), 'utf8')) as { include: string[] };
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ ...tsconfig, include: ['src/**/*.ts'], exclude: ['src/**/*.test.ts'] }));
  try {
    execFileSync(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(dir, 'tsconfig.json')], { cwd: dir, encoding: 'utf8', stdio: 'pipe' });
  } catch (error) {
    const e = error as { stdout?: string };
    throw new Error(`postern at ${rev} (${commit.slice(0, 10)}) does not build:\n${e.stdout ?? ''}`);
  }
  return { bin: join(dir, 'bin', 'postern.js'), commit };
}

export function posternConfig(spec: ProxySpec, ports: { plain: number; tls: number }): object {
  return {
    tls: { cert: spec.cert.certPath, key: spec.cert.keyPath },
    listen: [
      { protocol: spec.protocol, address: '127.0.0.1', port: ports.plain },
      { protocol: spec.protocol, address: '127.0.0.1', port: ports.tls, tls: 'implicit' },
    ],
    login_trusted_networks: ['127.0.0.0/8'],
    ...(spec.backendCa !== undefined ? { proxy: { ca_file: spec.backendCa } } : {}),
    ...(process.env.BENCH_POSTERN_EXTRA ? JSON.parse(process.env.BENCH_POSTERN_EXTRA) : {}),
    auth: { passdb: [{ driver: 'static', args: `proxy=y nopassword=y host=127.0.0.1 port=${spec.backendPort}${spec.backendCa !== undefined ? ' ssl=yes' : ''}` }] },
  };
}

/** undefined if this postern build accepts a listener of the protocol, else what `postern check` said. */
export async function posternProtocolSupport(bin: string, protocol: Protocol, cert: ProxySpec['cert']): Promise<string | undefined> {
  const dir = makeTempDir('bench-postern-check');
  try {
    const file = join(dir.path, 'check.yaml');
    writeFileSync(file, JSON.stringify(posternConfig({ protocol, backendPort: 1, cert }, { plain: 0, tls: 0 })));
    const result = await runCommand(process.execPath, [bin, 'check', '--config', file], { timeoutMs: 30_000 });
    if (result.code === 0) return undefined;
    const why = `${result.stderr}${result.stdout}`.split('\n').find((l) => /protocol|pop3/i.test(l)) ?? `exit ${result.code}`;
    return `postern check refuses a ${protocol} listener: ${why.trim()}`;
  } finally {
    dir.remove();
  }
}

/** Whether this build has the `process:` section (workers), asked once per build. */
const hasWorkers = new Map<string, Promise<boolean>>();
function acceptsWorkers(bin: string, cert: ProxySpec['cert']): Promise<boolean> {
  let known = hasWorkers.get(bin);
  if (known === undefined) {
    known = (async () => {
      const dir = makeTempDir('bench-postern-check');
      try {
        const file = join(dir.path, 'check.yaml');
        writeFileSync(file, JSON.stringify({ ...posternConfig({ protocol: 'imap', backendPort: 1, cert }, { plain: 0, tls: 0 }), process: { workers: 1 } }));
        return (await runCommand(process.execPath, [bin, 'check', '--config', file], { timeoutMs: 30_000 })).code === 0;
      } finally {
        dir.remove();
      }
    })();
    hasWorkers.set(bin, known);
  }
  return known;
}

export function posternTarget(bin: string, unsupported: ReadonlyMap<Protocol, string>, label = 'postern'): Target {
  return {
    id: 'postern',
    label,
    unsupported: (protocol) => unsupported.get(protocol),
    async start(spec): Promise<RunningTarget> {
      const dir = makeTempDir('bench-postern');
      try {
        const [plain, tls] = await freePorts(2);
        const ports = { plain: plain!, tls: tls! };
        const conf = join(dir.path, 'postern.yaml');
        // A profile (node flags) is of one process: the primary of a cluster holds no session.
        const single = spec.nodeFlags !== undefined && (await acceptsWorkers(bin, spec.cert)) ? { process: { workers: 1 } } : {};
        writeFileSync(conf, JSON.stringify({ ...posternConfig(spec, ports), ...single }, null, 2));
        // Logs go to a file, as Dovecot's do, so no pipe to this process costs CPU during a figure.
        const log = join(dir.path, 'postern.log');
        // --cpu-prof writes its profile on the way out (15 s); callgrind its counts (a minute, under `wrap`).
        const w = wrapped(spec.wrap, process.execPath, [...(spec.nodeFlags ?? []), bin, 'serve', '--config', conf], 15_000);
        const proc = spawnProcess('sh', ['-c', 'exec "$0" "$@" >"$POSTERN_BENCH_LOG" 2>&1', w.command, ...w.args], {
          env: { POSTERN_BENCH_LOG: log },
          ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
          ...w.stop,
        });
        return await whenListening('postern', proc, dir, ports, startTimeoutMs(spec, 15_000));
      } catch (error) {
        dir.remove();
        throw error;
      }
    },
  };
}

/** One postern to measure: a revision built, or the working tree's dist/ copied. */
export interface PosternBuild {
  bin: string;
  /** For the environment line: the commit and how it was built. */
  name: string;
  /** For labels: the short commit, or `working tree`. */
  short: string;
}

/** Each of `revs` (`.` is the working tree's dist/, named `workingName`) in a folder of its own under `dir`. */
export function posternBuilds(revs: readonly string[], dir: string, workingName: string): PosternBuild[] {
  return revs.map((rev, i) => {
    const at = join(dir, `postern-${i}`);
    if (rev === '.') return { bin: snapshotPostern(at), name: workingName, short: 'working tree' };
    const built = buildPosternAt(rev, at);
    return { bin: built.bin, name: `${built.commit.slice(0, 7)} (committed tree, built from git archive)`, short: built.commit.slice(0, 7) };
  });
}

/** A target per build, labelled by revision when there are several; a build without POP3 says so in `notes`. */
export async function posternTargetsOf(builds: readonly PosternBuild[], cert: ProxySpec['cert'], notes: string[]): Promise<Target[]> {
  const targets: Target[] = [];
  for (const p of builds) {
    const unsupported = new Map<Protocol, string>();
    const pop3 = await posternProtocolSupport(p.bin, 'pop3', cert);
    if (pop3 !== undefined) {
      unsupported.set('pop3', 'postern has no pop3 listener in this build');
      notes.push(`POP3 figures of postern ${p.short} skipped: ${pop3}`);
    }
    targets.push(posternTarget(p.bin, unsupported, builds.length > 1 ? `postern ${p.short}` : 'postern'));
  }
  return targets;
}
