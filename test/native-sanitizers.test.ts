// The native relay (native/*.c) built with AddressSanitizer and UndefinedBehaviorSanitizer, and the
// suites that drive it run against that build: sessions on both threads, every way a session ends,
// TLS through OpenSSL on the relay thread (KeyUpdate included), native dials and listeners, a stop
// with busy relay threads. Any out-of-bounds access, use after free or undefined behaviour in the C
// code fails the run with the sanitizer's report, even where the suites' own assertions still pass.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { makeTempDir, spawnProcess, type ManagedProcess } from './interop/harness/index.js';

const ROOT = process.cwd();
/** The compiled suites that drive the relay, relative to dist/. */
const SUITES = [
  'src/proxy/pipe.test.js',
  'src/proxy/pipe-many.test.js',
  'src/proxy/disconnect-delay.test.js',
  'src/proxy/native-dial.test.js',
  'src/proxy/native-dial-tls.test.js',
  'src/net/native-listen.test.js',
  'src/net/native-tls.test.js',
  'src/net/tls-resume.test.js',
  'src/net/listener-haproxy.test.js',
  'test/interop/imap-proxy-edges.test.js',
  'test/interop/stop-busy.test.js',
];

/** The sanitizer runtimes to preload into node, which is not built with them; undefined when missing. */
function runtimes(): string[] | undefined {
  const found = ['libasan.so', 'libubsan.so'].map((lib) => spawnSync('gcc', [`-print-file-name=${lib}`], { encoding: 'utf8' }).stdout?.trim() ?? '');
  return found.every((p) => p.startsWith('/') && existsSync(p)) ? found : undefined;
}

const NODE_HEADERS = join(dirname(dirname(process.execPath)), 'include', 'node');

function skipReason(): string | undefined {
  if (process.platform !== 'linux') return 'the native relay is built on Linux only';
  if (!existsSync(join(ROOT, 'native', 'build', 'Release', 'postern_relay.node'))) return 'the native relay is not built';
  if (!existsSync(join(NODE_HEADERS, 'node_api.h'))) return `no Node headers at ${NODE_HEADERS}`;
  if (runtimes() === undefined) return 'gcc has no libasan/libubsan (apt-get install gcc)';
  return undefined;
}

/** Each `not ok` of the child's TAP output with the lines after it (its name, its error): what failed, wherever it is in the output. */
function failedSubtests(tap: string): string {
  const lines = tap.split('\n');
  const blocks = lines.flatMap((l, i) => (/^\s*not ok /.test(l) ? [lines.slice(Math.max(0, i - 1), i + 40).join('\n')] : []));
  return blocks.length ? `failed:\n${blocks.join('\n...\n').slice(0, 8000)}` : 'no "not ok" line in the output';
}

test('the native relay under AddressSanitizer and UndefinedBehaviorSanitizer: its suites pass, no report', { skip: skipReason(), timeout: 600_000 }, async () => {
  const tmp = makeTempDir('postern-sanitizers-');
  let child: ManagedProcess | undefined;
  try {
    // A tree of its own: dist/src/net/native.js loads the addon relative to itself.
    for (const d of ['dist', 'bin', 'test']) cpSync(join(ROOT, d), join(tmp.path, d), { recursive: true });
    cpSync(join(ROOT, 'package.json'), join(tmp.path, 'package.json'));
    symlinkSync(join(ROOT, 'node_modules'), join(tmp.path, 'node_modules'));
    const out = join(tmp.path, 'native', 'build', 'Release');
    mkdirSync(out, { recursive: true });
    const sources = ['relay.c', 'session.c', 'tls.c'].map((f) => join(ROOT, 'native', f));
    const cc = spawnSync(
      'gcc',
      ['-shared', '-fPIC', '-pthread', '-g', '-O1', '-fno-omit-frame-pointer', '-fsanitize=address,undefined', '-fno-sanitize-recover=undefined', '-fvisibility=hidden', '-Wall', '-Wextra', '-Wno-unused-parameter', '-DBUILDING_NODE_EXTENSION', `-I${NODE_HEADERS}`, ...sources, '-o', join(out, 'postern_relay.node')],
      { encoding: 'utf8' },
    );
    assert.equal(cc.status, 0, cc.stderr);
    const reports = join(tmp.path, 'reports');
    mkdirSync(reports);
    const files = SUITES.map((s) => join('dist', s)).filter((f) => existsSync(join(tmp.path, f)));
    assert.equal(files.length, SUITES.length, 'every suite is built');
    // In a process group of its own (stopped with everything it started), without NODE_TEST_CONTEXT,
    // which would make the child's runner skip its files as a nested run. Only node gets the runtimes:
    // the harness starts Dovecot, openssl and the rest without them.
    child = spawnProcess(process.execPath, ['--test', '--test-concurrency=2', '--test-reporter=tap', ...files], {
      cwd: tmp.path,
      env: {
        NODE_TEST_CONTEXT: undefined,
        LD_PRELOAD: runtimes()!.join(' '),
        ASAN_OPTIONS: `detect_leaks=0:verify_asan_link_order=0:abort_on_error=1:log_path=${join(reports, 'asan')}`,
        UBSAN_OPTIONS: `print_stacktrace=1:log_path=${join(reports, 'ubsan')}`,
      },
    });
    const { code } = await child.exited;
    const output = child.output();
    const found = readdirSync(reports);
    assert.equal(found.length, 0, `${found.length} sanitizer reports (${found.join(', ')}); the first:\n${found.length ? readFileSync(join(reports, found[0]!), 'utf8').slice(0, 4000) : ''}`);
    assert.equal(code, 0, `${failedSubtests(output)}\n--- the end of the output ---\n${output.slice(-3000)}`);
    const count = (what: string) => Number(new RegExp(`^# ${what} (\\d+)$`, 'm').exec(output)?.[1] ?? NaN);
    // The suites ran (about a hundred tests), not a runner that found nothing to do.
    assert.ok(count('pass') >= 80 && count('fail') === 0, `pass ${count('pass')}, fail ${count('fail')}\n${output.slice(-3000)}`);
  } finally {
    await child?.stop();
    tmp.remove();
  }
});
