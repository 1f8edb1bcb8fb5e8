import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { SessionInfo } from '../login/index.js';
import { BackendHealthTracker, mergeBackendHealth, RECENT_WINDOW_MS } from './backends.js';

const session = (backend: string): SessionInfo => ({ id: 's', protocol: 'imap', listener: 'l', rip: '192.0.2.1', rport: 1, lip: '127.0.0.1', lport: 143, state: 'proxying', user: 'u', backend, since: 0, bytesIn: 0, bytesOut: 0 });

describe('backend health', () => {
  it('counts logins and failures, failures in a row, recent ones, and the open sessions', () => {
    let now = 1_000_000;
    const t = new BackendHealthTracker(() => now);
    t.failed('10.0.0.1:143', { kind: 'connect', detail: 'ECONNREFUSED' });
    now += RECENT_WINDOW_MS;
    t.failed('10.0.0.1:143', { kind: 'timeout', detail: 'timed out' });
    t.succeeded('10.0.0.2:143');
    const list = t.list([session('10.0.0.2:143'), session('10.0.0.2:143'), session('10.0.0.3:110')]);
    assert.deepEqual(list, [
      { backend: '10.0.0.1:143', sessions: 0, logins: 0, failures: 2, recentFailures: 1, consecutiveFailures: 2, lastFailure: { at: now, kind: 'timeout', detail: 'timed out' } },
      { backend: '10.0.0.2:143', sessions: 2, logins: 1, failures: 0, recentFailures: 0, consecutiveFailures: 0, lastSuccess: now },
      { backend: '10.0.0.3:110', sessions: 1, logins: 0, failures: 0, recentFailures: 0, consecutiveFailures: 0 },
    ]);
    t.succeeded('10.0.0.1:143');
    assert.equal(t.list([])[0]!.consecutiveFailures, 0, 'a success ends the run of failures');
  });

  it('merges the workers: sums, the latest times, the longest run', () => {
    const a = { backend: 'b:1', sessions: 1, logins: 2, failures: 3, recentFailures: 1, consecutiveFailures: 3, lastSuccess: 10, lastFailure: { at: 20, kind: 'connect' as const, detail: 'x' } };
    const b = { backend: 'b:1', sessions: 2, logins: 1, failures: 1, recentFailures: 1, consecutiveFailures: 0, lastSuccess: 30, lastFailure: { at: 5, kind: 'timeout' as const, detail: 'y' } };
    const c = { backend: 'a:1', sessions: 0, logins: 1, failures: 0, recentFailures: 0, consecutiveFailures: 0 };
    assert.deepEqual(mergeBackendHealth([[a], [b, c]]), [c, { backend: 'b:1', sessions: 3, logins: 3, failures: 4, recentFailures: 2, consecutiveFailures: 3, lastSuccess: 30, lastFailure: a.lastFailure }]);
  });
});
