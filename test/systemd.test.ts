// The systemd unit in contrib/: systemd's own checker accepts it, and the commands it runs are
// ones postern understands (with the example configuration in place of /etc/postern).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary, makeTempDir, skipSuite } from './interop/harness/index.js';

const ROOT = process.cwd();
const UNIT = readFileSync(join(ROOT, 'contrib', 'systemd', 'postern.service'), 'utf8');
const BIN = join(ROOT, 'bin', 'postern.js');
const setting = (key: string) => [...UNIT.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map((m) => m[1]!);

test('systemd-analyze verify accepts the unit', { skip: skipSuite('systemd unit', findBinary('systemd-analyze') ? undefined : 'systemd-analyze not installed') }, () => {
  const tmp = makeTempDir('postern-systemd-');
  try {
    const unit = join(tmp.path, 'postern.service');
    writeFileSync(unit, UNIT.replaceAll('/usr/local/bin/postern', BIN));
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr.trim(), '', 'no warnings');
  } finally {
    tmp.remove();
  }
});

test('the unit runs postern check before serve, reloads with SIGHUP, stops the primary alone, with raised limits', () => {
  assert.deepEqual(setting('ExecReload'), ['/bin/kill -HUP $MAINPID']);
  assert.deepEqual(setting('KillMode'), ['mixed']);
  assert.ok(Number(setting('LimitNOFILE')[0]) >= 65536);
  const [pre] = setting('ExecStartPre');
  const [start] = setting('ExecStart');
  assert.match(start!, /^\/usr\/local\/bin\/postern serve --config \/etc\/postern\/postern\.yaml$/);
  // The check the unit runs first, on a configuration that validates.
  const args = pre!.split(' ').slice(1).map((a) => (a === '/etc/postern/postern.yaml' ? join(ROOT, 'examples', 'passwd-file', 'postern.yaml') : a));
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 20_000 });
  assert.deepEqual([r.status, r.stdout], [0, ''], r.stderr);
});
