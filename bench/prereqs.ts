// The Debian packages the benchmark needs, each checked by a file it installs.
import { existsSync } from 'node:fs';
import { findBinary } from '../test/interop/harness/index.js';

interface Requirement {
  pkg: string;
  /** What is looked for, for the message. */
  file: string;
  present: () => boolean;
}

const file = (path: string) => () => existsSync(path);
const binary = (name: string) => () => findBinary(name) !== undefined;

const REQUIREMENTS: Requirement[] = [
  { pkg: 'dovecot-imapd', file: '/usr/lib/dovecot/imap', present: () => binary('dovecot')() && file('/usr/lib/dovecot/imap')() },
  { pkg: 'dovecot-pop3d', file: '/usr/lib/dovecot/pop3', present: file('/usr/lib/dovecot/pop3') },
  { pkg: 'nginx', file: 'nginx on PATH', present: binary('nginx') },
  { pkg: 'libnginx-mod-mail', file: '/usr/lib/nginx/modules/ngx_mail_module.so', present: file('/usr/lib/nginx/modules/ngx_mail_module.so') },
  { pkg: 'libssl-dev', file: '/usr/include/openssl/ssl.h', present: file('/usr/include/openssl/ssl.h') },
  { pkg: 'gcc', file: 'cc on PATH', present: binary('cc') },
  { pkg: 'openssl', file: 'openssl on PATH', present: binary('openssl') },
  { pkg: 'util-linux', file: 'taskset on PATH', present: binary('taskset') },
  // `ip link set lo up` in the network namespace bench/tcp.ts makes.
  { pkg: 'iproute2', file: 'ip on PATH', present: binary('ip') },
];

export const NGINX_MAIL_MODULE = '/usr/lib/nginx/modules/ngx_mail_module.so';
/** The missing packages, each with what was looked for; empty when everything is there. */
export function missingPackages(): Array<{ pkg: string; message: string }> {
  return REQUIREMENTS.filter((r) => !r.present()).map((r) => ({ pkg: r.pkg, message: `missing package ${r.pkg} (${r.file} not found)` }));
}
