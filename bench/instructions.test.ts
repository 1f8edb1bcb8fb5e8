// Keeps bench/instructions.ts working: Dovecot's proxy and postern counted under callgrind for a few
// logins each, against a small backend, with the cache simulation. The counts are checked for their
// order of magnitude only (the figures themselves are the script's to report).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { dovecotSkipReason, requireBinary, runCommand, skipSuite } from '../test/interop/harness/index.js';
import { cbuildSkipReason } from './cbuild.js';

const SCRIPT = fileURLToPath(new URL('./instructions.js', import.meta.url));
const skip = skipSuite('bench instructions', cbuildSkipReason(), dovecotSkipReason(), requireBinary('valgrind'));

describe('bench instructions per login', { skip, timeout: 600_000 }, () => {
  test('counts the instructions and cache misses of a login of Dovecot and of postern, by process', async () => {
    const args = ['--targets', 'dovecot,postern', '--logins', 'imap', '--warmup', '30', '--count', '40', '--users', '10', '--cache-sim', '--no-write'];
    const r = await runCommand(process.execPath, [SCRIPT, ...args], { timeoutMs: 540_000 });
    assert.equal(r.code, 0, `${r.stdout}\n${r.stderr}`);
    const perLogin = (label: string) => {
      const m = new RegExp(`\\] ${label} imap: ([\\d.]+) M instructions a login \\((.*)\\); L1 misses: instruction ([\\d.]+) k, data read ([\\d.]+) k`).exec(r.stdout);
      assert.ok(m, `no count for ${label} in:\n${r.stdout}`);
      const [instructions, instructionMisses, dataReadMisses] = [Number(m[1]) * 1e3, Number(m[3]), Number(m[4])];
      // Some misses a login (in thousands), and fewer than the instructions.
      assert.ok(instructionMisses > 0 && instructionMisses < instructions && dataReadMisses > 0 && dataReadMisses < instructions, `${label}: ${m[0]}`);
      return { mega: Number(m[1]), detail: m[2]! };
    };
    const dovecot = perLogin('Dovecot proxy');
    // Dovecot's login goes through its imap-login and auth processes: both must have written their counts.
    assert.match(dovecot.detail, /imap-login [\d.]+ M/);
    assert.match(dovecot.detail, /auth [\d.]+ M/);
    assert.ok(dovecot.mega > 0.05 && dovecot.mega < 5, `Dovecot: ${dovecot.mega} M a login`);
    const postern = perLogin('postern');
    assert.match(postern.detail, /node [\d.]+ M/);
    assert.ok(postern.mega > 0.05 && postern.mega < 50, `postern: ${postern.mega} M a login`);
    // The table the script appends to RESULTS.md.
    assert.match(r.stdout, /\| target \| IMAP login \|\n\| --- \| ---: \|\n\| Dovecot proxy \| [\d.]+ M \|\n\| postern \| [\d.]+ M \|/);
    assert.match(r.stdout, /\| target \| login \| instructions \| data reads \| I1mr \| D1mr \| D1mw \| ILmr \| DLmr \| DLmw \|\n(?:.*\n){1}\| Dovecot proxy \| imap \| [\d.]+ k \|/);
  });
});
