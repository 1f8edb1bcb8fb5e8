// The machine and the versions a run was taken on, and whether the machine was busy with other work.
import { spawnSync } from 'node:child_process';
import { cpus, loadavg, totalmem, availableParallelism, release } from 'node:os';
import { fileURLToPath } from 'node:url';
import { findBinary } from '../test/interop/harness/index.js';
import { congestionControl } from './tcp.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** stdout, or stderr where the tool prints its version there (nginx -v). */
function output(cmd: string, args: string[], cwd?: string): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...(cwd ? { cwd } : {}) });
  return (r.stdout?.trim() || r.stderr?.trim() || '').split('\n')[0] ?? '';
}

export interface Environment {
  cores: number;
  cpuModel: string;
  memoryGiB: number;
  kernel: string;
  node: string;
  dovecot: string;
  nginx: string;
  openssl: string;
  postern: string;
  loadAtStart: string;
  /** The TCP congestion control the connections ran under, and where it came from. */
  tcp: string;
}

export function describeEnvironment(): Environment {
  const commit = output('git', ['rev-parse', '--short', 'HEAD'], REPO) || 'unknown';
  const status = spawnSync('git', ['status', '--porcelain', '--untracked-files=no'], { cwd: REPO, encoding: 'utf8' });
  const dirty = status.status === 0 && status.stdout.trim() !== '';
  const nginx = findBinary('nginx');
  return {
    cores: availableParallelism(),
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: totalmem() / 2 ** 30,
    kernel: release(),
    node: process.version,
    dovecot: output(findBinary('dovecot') ?? 'dovecot', ['--version']),
    nginx: nginx ? output(nginx, ['-v']).replace(/^nginx version: nginx\//, '') : 'absent',
    openssl: output('openssl', ['version']).replace(/ \(Library.*$/, ''),
    postern: `${commit}${dirty ? ' with uncommitted changes' : ''}`,
    loadAtStart: loadavg().map((l) => l.toFixed(2)).join(' / '),
    tcp: `${congestionControl()} (the machine's default)`,
  };
}

export function environmentMarkdown(env: Environment): string {
  return [
    `- Machine: ${env.cores} cores (${env.cpuModel}), ${env.memoryGiB.toFixed(1)} GiB RAM, Linux ${env.kernel}`,
    `- Versions: Node ${env.node}, Dovecot ${env.dovecot}, nginx ${env.nginx}, ${env.openssl}, postern ${env.postern}`,
    `- TCP congestion control: ${env.tcp}`,
    `- Load average when the run started (1/5/15 min): ${env.loadAtStart}`,
  ].join('\n');
}
