// Builds the native relay (native/relay.c, session.c, tls.c) at `npm ci`. Without a C compiler, or off Linux,
// postern still runs: sessions then go through the JavaScript pipe and Node's TLS, and `postern serve` says so.
import { spawnSync } from 'node:child_process';

if (process.platform !== 'linux') {
  console.log('postern: the native relay is built on Linux only; sessions use the JavaScript pipe');
  process.exit(0);
}
const r = spawnSync('node-gyp', ['rebuild', '--directory=native'], { stdio: 'inherit' });
if (r.status !== 0) {
  console.warn('postern: the native relay (native/relay.c) did not build; sessions will use the JavaScript pipe and Node\'s TLS. Install python3, make and g++ and run `npm rebuild postern` or `npm ci` again.');
}
