// Dovecot 2.3 as a login proxy in its documented high-performance mode: long-lived login processes
// (service_count = 0), one per core kept ready, a static passdb that sends every user to the backend.
import { startDovecot } from '../../test/interop/harness/index.js';
import { startTimeoutMs } from './started.js';
import type { RunningTarget, Target } from './types.js';

export function dovecotProxyConfig(backendPort: number, cores: number, backendCa?: string): string {
  const login = ['  service_count = 0', `  process_min_avail = ${cores}`, '  vsz_limit = 1G'];
  return [
    'auth_verbose = no',
    'passdb {',
    '  driver = static',
    `  args = proxy=y host=127.0.0.1 port=${backendPort} nopassword=y${backendCa !== undefined ? ' ssl=yes' : ''}`,
    '}',
    // Dovecot 2.3's login proxy verifies backends against ssl_ca and wants a CRL per CA unless told not to.
    ...(backendCa !== undefined ? [`ssl_ca = <${backendCa}`, 'ssl_require_crl = no'] : []),
    'service imap-login {',
    ...login,
    '}',
    'service pop3-login {',
    ...login,
    '}',
    '',
  ].join('\n');
}

/**
 * No process chrooted, for valgrind (bench/instructions.ts): callgrind writes its counts at exit, to
 * the path it was given at the start.
 */
const UNCHROOTED = [
  'service imap-login {\n  chroot =\n}',
  'service pop3-login {\n  chroot =\n}',
  'service anvil {\n  chroot =\n}',
  '',
].join('\n');

export function dovecotProxyTarget(cores: number): Target {
  return {
    id: 'dovecot',
    label: 'Dovecot proxy',
    async start(spec): Promise<RunningTarget> {
      const instance = await startDovecot({
        users: [], // the static passdb answers for everyone (after an empty passwd-file)
        trustedNetworks: '127.0.0.0/8',
        cert: spec.cert,
        extraConfig: dovecotProxyConfig(spec.backendPort, cores, spec.backendCa) + (spec.wrap !== undefined ? UNCHROOTED : ''),
        startTimeoutMs: startTimeoutMs(spec, 30_000),
        wrap: spec.wrap,
      });
      const p = instance.ports;
      const imap = spec.protocol === 'imap';
      return { port: imap ? p.imap : p.pop3, tlsPort: imap ? p.imaps : p.pop3s, pid: instance.masterPid, stop: () => instance.stop() };
    },
  };
}
