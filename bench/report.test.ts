// The figures table: its rows name the clients of the login figures, and the one-client figures have rows of their own.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { FigureId, FigureRun } from './figures.js';
import { figuresTable, roundDetails, type TargetResults } from './report.js';
import { mergeRounds } from './figures.js';
import type { TargetId } from './targets/types.js';

const login = (figure: FigureId, conns: number, perS: number, p50Us: number, proxyS?: number): FigureRun => ({
  figure,
  result: {
    mode: 'login', proto: 'imap', tls: false, conns, seconds: 10, ops: perS * 10, ops_per_s: perS, errors: 0,
    bytes: 0, bytes_per_s: 0, samples: perS * 10, p50_us: p50Us, p90_us: p50Us, p99_us: 2 * p50Us, p999_us: 3 * p50Us, max_us: 4 * p50Us,
    cpu_user_s: 0, cpu_sys_s: 0, cpu_s: 0,
  },
  cpu: { wallS: 10, loadgenS: 1, parties: { backend: { total: 5, sys: 2 }, ...(proxyS !== undefined ? { proxy: { total: proxyS, sys: proxyS / 2 } } : {}) }, otherS: 0 },
  window: { startMs: 0, endMs: 10_000 },
});

const target = (id: TargetId, runs: FigureRun[]): TargetResults => ({ id, label: id, figures: new Map(runs.map((r) => [r.figure, r])), skipped: new Map() });

const cells = (table: string, label: string) => {
  const line = table.split('\n').find((l) => l.startsWith(`| ${label} |`));
  assert.ok(line, `no row ${label} in\n${table}`);
  return line.split('|').slice(2, -1).map((c) => c.trim());
};

describe('bench figures table', () => {
  test('the login rows say how many clients logged in at once; one client has rows of its own', () => {
    const results = [
      target('direct', [login('login-imap', 200, 2000, 4000), login('login-pop3-1', 1, 1000, 900)]),
      target('postern', [login('login-imap', 200, 1800, 5000, 6), login('login-pop3-1', 1, 800, 1100, 3)]),
    ];
    const table = figuresTable(results, 200);
    // direct, Dovecot, nginx, postern, postern/Dovecot, postern/nginx, postern/direct, goal, met
    assert.deepEqual(cells(table, 'IMAP logins/s (200 clients)').slice(0, 7), ['2,000', '—', '—', '1,800', '—', '—', '0.90×']);
    assert.deepEqual(cells(table, 'POP3 one client: login p50 (ms)').slice(0, 7), ['0.90', '—', '—', '1.10', '—', '—', '1.22×']);
    assert.deepEqual(cells(table, 'POP3 one client: logins/s').slice(0, 4), ['1,000', '—', '—', '800']);
    assert.deepEqual(cells(table, 'IMAP one client: logins/s').slice(0, 4), ['—', '—', '—', '—']);
    assert.equal(table.includes('(50 clients)'), false);
    assert.deepEqual(cells(figuresTable(results, 1), 'IMAP logins/s (1 client)').slice(0, 4), ['2,000', '—', '—', '1,800'], 'the main figures run at one client say so');
  });

  test('NOOP in rounds: the table gives the median round, the details each round\'s p50', () => {
    const noop = (p50: number): FigureRun => { const r = login('noop', 1, 20_000, p50, 0.5); return { ...r, result: { ...r.result, mode: 'noop' } }; };
    const direct = mergeRounds([noop(35), noop(34), noop(36)]);
    const postern = mergeRounds([noop(58), noop(71), noop(57)]);
    const results = [target('direct', [direct]), target('postern', [postern])];
    assert.deepEqual(cells(figuresTable(results, 50), 'NOOP round trip p50 (µs)').slice(0, 4), ['35', '—', '—', '58']);
    assert.deepEqual(cells(figuresTable(results, 50), 'NOOP p50 added by the proxy (µs)').slice(0, 4), ['—', '—', '—', '23']);
    assert.match(roundDetails(results), /- postern noop: p50 58, 71, 57 µs/);
  });

  test('logins in rounds: the table gives their sum over the measured time, the details each round, no backend process', () => {
    const busy = (r: FigureRun): FigureRun => ({ ...r, cpu: { ...r.cpu, busiest: { backend: { pid: 7, comm: 'imap', seconds: 1, ageS: 3, processor: 1 } } } });
    const direct = mergeRounds([busy(login('login-imap', 50, 2000, 4000)), busy(login('login-imap', 50, 1000, 4000)), busy(login('login-imap', 50, 1500, 4000))]);
    const postern = mergeRounds([login('login-imap', 50, 1200, 5000, 3), login('login-imap', 50, 900, 6000, 3), login('login-imap', 50, 1500, 5500, 3)]);
    const results = [target('direct', [direct]), target('postern', [postern])];
    assert.deepEqual(cells(figuresTable(results, 50), 'IMAP logins/s (50 clients)').slice(0, 4), ['1,500', '—', '—', '1,200']);
    const details = roundDetails(results);
    assert.match(details, /- postern login-imap: 1200, 900, 1500 a second/);
    assert.match(details, /- direct login-imap: 2000, 1000, 1500 a second/);
    assert.doesNotMatch(details, /busiest process/);
  });
});
