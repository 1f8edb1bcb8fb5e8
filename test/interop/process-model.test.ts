// The real `postern serve` with two workers in front of Dovecot: a reload under 500 open sessions
// while logins keep coming, a worker killed with SIGKILL, process.workers changed by a reload (also
// while a crash-looping worker waits for its replacement), the admin API across workers, and a
// graceful stop with the protocol goodbye.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { dovecotSkipReason, freePorts, getTestCerts, makeTempDir, pollUntil, skipSuite, spawnProcess, startDovecot, type DovecotInstance, type ManagedProcess, type TempDir, type TestCerts } from './harness/index.js';
import { readImap, type ScriptedClient } from '../support/imap-client.js';
import { SCHED_BATCH, SCHED_OTHER, threadPolicies } from '../support/sched.js';

const BIN = join(process.cwd(), 'bin', 'postern.js');
const TOKEN = 'process-model-admin-token-0123456789';
const SESSIONS = 500;

const skip = skipSuite('process model', dovecotSkipReason());

interface Line {
  event?: string;
  worker?: number;
  pid?: number;
  user?: string;
  [k: string]: unknown;
}

function lines(p: ManagedProcess): Line[] {
  return p
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Line);
}

async function waitLine(p: ManagedProcess, pred: (l: Line) => boolean, what: string, since = 0, timeoutMs = 20_000): Promise<Line> {
  let hit: Line | undefined;
  await pollUntil(() => (hit = lines(p).slice(since).find(pred)), { timeoutMs, intervalMs: 50, what }).catch((err: Error) => {
    throw new Error(`${err.message}\n${p.output().slice(-4000)}`);
  });
  return hit!;
}

async function login(port: number, user: string, password: string): Promise<ScriptedClient> {
  const c = await readImap(port);
  const reply = await c.command(`a LOGIN ${user} ${password}`, undefined, 20_000);
  if (!/^a OK/m.test(reply)) {
    c.close();
    throw new Error(`login of ${user} failed: ${reply}`);
  }
  return c;
}

async function api(port: number, method: string, path: string, body?: unknown, token = TOKEN): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, ...(body ? { body: JSON.stringify(body) } : {}) });
  return { status: res.status, json: await res.json().catch(() => undefined) };
}

/** Every session closed by the test is gone from postern too (the next test counts from zero). */
async function settled(adminPort: number): Promise<void> {
  await pollUntil(async () => (((await api(adminPort, 'GET', '/sessions')).json as { sessions: unknown[] }).sessions.length === 0 ? true : undefined), { timeoutMs: 20_000, intervalMs: 100, what: 'sessions gone' });
}

/** The proxy_started lines since `mark`, once there are `count` of them (log writes may trail the replies). */
async function proxyStarts(p: ManagedProcess, mark: number, count: number): Promise<Line[]> {
  return pollUntil(() => {
    const got = lines(p).slice(mark).filter((l) => l.event === 'proxy_started');
    return got.length >= count ? got : undefined;
  }, { timeoutMs: 10_000, intervalMs: 20, what: `${count} proxy_started lines` });
}

describe('postern serve with two workers', { skip, timeout: 300_000 }, () => {
  let dovecot: DovecotInstance;
  let tmp: TempDir;
  let postern: ManagedProcess;
  let imapPort: number;
  let imapsPort: number;
  let adminPort: number;
  let config: string;
  let certs: TestCerts;

  const writeConfig = (users: string, userip = 0, total = 10_000, workers = 2, cpuScheduling?: string) =>
    writeFileSync(
      config,
      [
        `process: { workers: ${workers}, accept: spread, shutdown_timeout: 3s${cpuScheduling ? `, cpu_scheduling: ${cpuScheduling}` : ''} }`,
        'log: { level: info }',
        'listen:',
        `  - { protocol: imap, address: 127.0.0.1, port: ${imapPort}, tls: none }`,
        `  - { protocol: imap, address: 127.0.0.1, port: ${imapsPort}, tls: implicit }`,
        `tls: { cert: ${certs.server.certPath}, key: ${certs.server.keyPath} }`,
        'auth:',
        '  failure_delay: 0',
        `  passdb: [{ driver: passwd-file, args: ${users} }]`,
        `admin: { listen: "127.0.0.1:${adminPort}", token_file: token }`,
        // 500 sessions of one user from one address first.
        `limits: { max_userip_connections: ${userip}, max_connections: ${total} }`,
        '',
      ].join('\n'),
    );

  before(async () => {
    tmp = makeTempDir('postern-process-');
    dovecot = await startDovecot({
      users: [
        { name: 'alice', password: 'alice-pw' },
        { name: 'bob', password: 'bob-pw' },
      ],
      extraConfig: 'default_process_limit = 1200\ndefault_client_limit = 3000\nmail_max_userip_connections = 2000\nservice imap-login {\n  service_count = 0\n  client_limit = 2000\n}\n',
    });
    [imapPort, imapsPort, adminPort] = (await freePorts(3)) as [number, number, number];
    certs = await getTestCerts();
    config = join(tmp.path, 'postern.yaml');
    writeFileSync(join(tmp.path, 'token'), `${TOKEN}\n`);
    const route = `proxy=y host=127.0.0.1 port=${dovecot.ports.imap}`;
    writeFileSync(join(tmp.path, 'users-1'), `alice:{PLAIN}alice-pw::::::${route}\n`);
    // The second file knows bob too: only logins after the reload can use him.
    writeFileSync(join(tmp.path, 'users-2'), `alice:{PLAIN}alice-pw::::::${route}\nbob:{PLAIN}bob-pw::::::${route}\n`);
    writeConfig('users-1');
    postern = spawnProcess(process.execPath, [BIN, 'serve', '-c', config], { cwd: tmp.path, stopTimeoutMs: 15_000 });
    await waitLine(postern, (l) => l.event === 'started', 'postern started');
  });

  after(async () => {
    await postern?.stop();
    await dovecot?.stop();
    tmp?.remove();
  });

  test('a reload under 500 open sessions drops none, and logins that keep coming see the new configuration', async () => {
    const open: ScriptedClient[] = [];
    for (let i = 0; i < SESSIONS; i += 25) open.push(...(await Promise.all(Array.from({ length: Math.min(25, SESSIONS - i) }, () => login(imapPort, 'alice', 'alice-pw')))));
    assert.equal(open.length, SESSIONS);
    // Log lines may trail the replies.
    const started = await proxyStarts(postern, 0, SESSIONS);
    assert.deepEqual([...new Set(started.map((l) => l.worker))].sort(), [0, 1], 'both workers serve');

    // Logins keep coming while the configuration changes; each one must get in.
    let stop = false;
    const failures: string[] = [];
    let bobBefore = 0;
    let bobAfter = 0;
    let reloaded = false;
    const churn = (async () => {
      for (let n = 0; !stop && n < 10_000; n++) {
        try {
          const c = await login(imapPort, 'alice', 'alice-pw');
          await c.command('z LOGOUT', /^z OK/m);
          c.close();
        } catch (err) {
          failures.push((err as Error).message);
        }
        const b = await readImap(imapPort);
        const r = await b.command('b LOGIN bob bob-pw', undefined, 20_000);
        b.close();
        if (/^b OK/m.test(r)) bobAfter++;
        else if (!reloaded) bobBefore++;
      }
    })();
    await new Promise((r) => setTimeout(r, 300));
    writeConfig('users-2');
    postern.child.kill('SIGHUP');
    await waitLine(postern, (l) => l.event === 'reloaded' && l['workers'] === 2, 'both workers reloaded');
    reloaded = true;
    // Logins that began after the reload know bob.
    await pollUntil(() => (bobAfter >= 5 ? true : undefined), { timeoutMs: 30_000, intervalMs: 50, what: 'bob logging in after the reload' });
    stop = true;
    await churn;
    assert.deepEqual(failures, [], 'no login failed during the reload');
    assert.ok(bobBefore > 0, 'bob was unknown before the reload');

    // Every session opened before the reload is still there, talking to Dovecot.
    const noops = await Promise.all(open.map((c, i) => c.command(`n${i} NOOP`, new RegExp(`^n${i} OK`, 'm'), 20_000).then(() => true, () => false)));
    assert.equal(noops.filter(Boolean).length, SESSIONS, 'every session survived the reload');
    const who = await api(adminPort, 'GET', '/sessions?user=alice');
    assert.equal(who.status, 200);
    assert.equal((who.json as { sessions: unknown[] }).sessions.length, SESSIONS, 'the admin API lists the sessions of both workers');
    for (const c of open) c.close();
    await settled(adminPort);
  });

  test('a worker killed with SIGKILL takes only its own sessions; a new worker takes its place', async () => {
    const mark = lines(postern).length;
    const open: ScriptedClient[] = [];
    // Sessions until both workers hold some (the kernel spreads accepts; bounded).
    for (let i = 0; i < 200; i += 10) {
      open.push(...(await Promise.all(Array.from({ length: 10 }, () => login(imapPort, 'alice', 'alice-pw')))));
      const byWorker = new Set((await proxyStarts(postern, mark, open.length)).map((l) => l.worker));
      if (byWorker.size === 2 && open.length >= 20) break;
    }
    const started = await proxyStarts(postern, mark, open.length);
    const victim = started[0]!.worker!;
    const victimPid = lines(postern).filter((l) => l.event === 'worker_started' && l.worker === victim).at(-1)!.pid!;
    const survivors = started.filter((l) => l.worker !== victim).length;
    assert.ok(survivors > 0, 'the other worker holds sessions too');

    process.kill(victimPid, 'SIGKILL');
    const died = await waitLine(postern, (l) => l.event === 'worker_died' && l.pid === victimPid, 'worker_died');
    assert.equal(died['signal'], 'SIGKILL');
    const replaced = await waitLine(postern, (l) => l.event === 'worker_started' && l.worker === victim && l.pid !== victimPid, 'replacement worker');
    assert.notEqual(replaced.pid, victimPid);

    const alive = await Promise.all(open.map((c, i) => c.command(`k${i} NOOP`, new RegExp(`^k${i} OK`, 'm'), 10_000).then(() => true, () => false)));
    assert.equal(alive.filter(Boolean).length, survivors, 'exactly the other worker\'s sessions survive');
    // New logins work, and are served by both workers again (the replacement included).
    const fresh: ScriptedClient[] = [];
    const mark2 = lines(postern).length;
    for (let i = 0; i < 200; i += 10) {
      fresh.push(...(await Promise.all(Array.from({ length: 10 }, () => login(imapPort, 'alice', 'alice-pw')))));
      if ((await proxyStarts(postern, mark2, fresh.length)).some((l) => l.pid === replaced.pid)) break;
    }
    assert.ok((await proxyStarts(postern, mark2, fresh.length)).some((l) => l.pid === replaced.pid), 'the new worker serves logins');
    for (const c of [...open, ...fresh]) c.close();
    await settled(adminPort);
  });

  test('kick through the admin API reaches the sessions of every worker', async () => {
    const open = await Promise.all(Array.from({ length: 20 }, () => login(imapPort, 'alice', 'alice-pw')));
    const kicked = await api(adminPort, 'POST', '/kick', { user: 'alice' });
    assert.deepEqual(kicked, { status: 200, json: { kicked: 20 } });
    const ends = await Promise.all(open.map((c) => c.closed(10_000)));
    for (const end of ends) assert.match(end, /\* BYE [^\r\n]*\r\n$/);
    const metrics = await fetch(`http://127.0.0.1:${adminPort}/metrics`, { headers: { authorization: `Bearer ${TOKEN}` } }).then((r) => r.text());
    assert.match(metrics, /^postern_logins_total\{protocol="imap",result="proxied"\} \d+/m);
    await settled(adminPort);
  });

  test('the user+address limit counts the sessions of both workers together', async () => {
    writeConfig('users-2', 6);
    const mark = lines(postern).length;
    postern.child.kill('SIGHUP');
    await waitLine(postern, (l) => l.event === 'reloaded' && l['workers'] === 2, 'reloaded with the limit', mark);
    const open: ScriptedClient[] = [];
    const refusals: string[] = [];
    for (let i = 0; i < 10; i++) {
      const c = await readImap(imapPort);
      const r = await c.command('a LOGIN alice alice-pw', undefined, 20_000);
      if (/^a OK/m.test(r)) open.push(c);
      else {
        refusals.push(r);
        c.close();
      }
    }
    assert.equal(open.length, 6, 'six sessions, wherever they landed');
    assert.equal(refusals.length, 4);
    for (const r of refusals) assert.match(r, /^a NO \[LIMIT\] Maximum number of connections from user\+IP exceeded \(mail_max_userip_connections=6\)/m);
    // Bob has his own six.
    const bob = await login(imapPort, 'bob', 'bob-pw');
    // One goes, one more may come.
    await open[0]!.command('z LOGOUT', /^z OK/m);
    open[0]!.close();
    await pollUntil(async () => {
      const c = await readImap(imapPort);
      const r = await c.command('a LOGIN alice alice-pw', undefined, 20_000);
      if (/^a OK/m.test(r)) return c;
      c.close();
      return undefined;
    }, { timeoutMs: 10_000, intervalMs: 100, what: 'a place freed by a logout' }).then((c) => open.push(c));
    for (const c of [...open, bob]) c.close();
    await settled(adminPort);
  });

  test('the total limit counts the connections of both workers together, however the kernel spreads them', async () => {
    writeConfig('users-2', 0, 40);
    const mark = lines(postern).length;
    postern.child.kill('SIGHUP');
    await waitLine(postern, (l) => l.event === 'reloaded' && l['workers'] === 2, 'reloaded with the limit', mark);
    // An even split (20 each) would refuse some of these whenever one worker accepts more than half.
    const open = await Promise.all(Array.from({ length: 40 }, () => readImap(imapPort)));
    assert.deepEqual(open.filter((c) => !/^\* OK/.test(c.greeting)).map((c) => c.greeting), [], 'all 40 greeted');
    const over = await readImap(imapPort);
    assert.match(over.greeting, /^\* BYE Connection queue full\r\n/);
    await over.closed();
    const refusal = await waitLine(postern, (l) => l.event === 'limit_reached' && l['limit'] === 'total', 'limit_reached', mark);
    assert.equal(refusal['max'], 40);
    // One leaves: one more may come, on whichever worker accepts it.
    open.shift()!.close();
    const next = await pollUntil(async () => {
      const c = await readImap(imapPort);
      if (/^\* OK/.test(c.greeting)) return c;
      c.close();
      return undefined;
    }, { timeoutMs: 10_000, intervalMs: 100, what: 'a place freed by a close' });
    open.push(next);
    for (const c of open) c.close();
    writeConfig('users-2');
    const mark2 = lines(postern).length;
    postern.child.kill('SIGHUP');
    await waitLine(postern, (l) => l.event === 'reloaded' && l['workers'] === 2, 'reloaded without the limit', mark2);
  });

  test('a TLS session resumes on either worker, and after a reload', async () => {
    const visit = (session?: Buffer) =>
      new Promise<{ reused: boolean; ticket: Buffer | undefined; got: string }>((resolve, reject) => {
        let ticket: Buffer | undefined;
        let reused = false;
        let got = '';
        let asked = false;
        const c = tlsConnect({ port: imapsPort, host: '127.0.0.1', ca: certs.ca.cert, servername: 'localhost', minVersion: 'TLSv1.3', ...(session ? { session } : {}) });
        const timer = setTimeout(() => (c.destroy(), reject(new Error(`no end; got ${JSON.stringify(got)}`))), 10_000);
        c.on('secureConnect', () => (reused = c.isSessionReused()));
        c.on('session', (t: Buffer) => (ticket ??= t));
        c.setEncoding('latin1');
        c.on('data', (d: string) => {
          got += d;
          if (!asked && /^\* OK/.test(got)) {
            asked = true;
            c.write('z LOGOUT\r\n');
          }
        });
        c.on('close', () => (clearTimeout(timer), resolve({ reused, ticket, got })));
        c.on('error', (err) => (clearTimeout(timer), reject(err)));
      });
    const first = await visit();
    assert.ok(first.ticket, 'a session ticket');
    assert.match(first.got, /^z OK/m);
    const mark = lines(postern).length;
    const again = [];
    const ends = () => lines(postern).slice(mark).filter((l) => l.event === 'session_end');
    // Visits until both workers have served some (the kernel spreads accepts; bounded).
    for (let i = 0; i < 200 && (i < 30 || new Set(ends().map((l) => l.worker)).size < 2); i++) again.push(await visit(first.ticket));
    assert.equal(again.filter((v) => !v.reused).length, 0, `every later visit resumed (${again.length} visits)`);
    const ended = await pollUntil(() => {
      const got = ends();
      return got.length >= again.length ? got : undefined;
    }, { timeoutMs: 10_000, intervalMs: 50, what: `${again.length} session_end lines` });
    assert.deepEqual([...new Set(ended.map((l) => l.worker))].sort(), [0, 1], 'both workers resumed sessions');
    const mark2 = lines(postern).length;
    postern.child.kill('SIGHUP');
    await waitLine(postern, (l) => l.event === 'reloaded' && l['workers'] === 2, 'reloaded', mark2);
    assert.equal((await visit(first.ticket)).reused, true, 'resumed after the reload');
  });

  test('the workers run under SCHED_BATCH by default, the primary as it started; a reload to `other` puts them back, one to `batch` again', async () => {
    const primary = postern.child.pid!;
    const workers = () => readFileSync(`/proc/${primary}/task/${primary}/children`, 'utf8').trim().split(/\s+/).map(Number);
    const all = () => workers().flatMap((pid) => threadPolicies(pid));
    assert.equal(workers().length, 2);
    assert.deepEqual(new Set(all()), new Set([SCHED_BATCH]), 'every thread of both workers');
    // (It started with the policy of the test runner, which started it.)
    assert.deepEqual(new Set(threadPolicies(primary)), new Set([threadPolicies('self')[0]]), 'the primary, which serves no session, as it started');
    const reload = async (cpuScheduling?: string) => {
      writeConfig('users-2', 0, 10_000, 2, cpuScheduling);
      const mark = lines(postern).length;
      postern.child.kill('SIGHUP');
      await waitLine(postern, (l) => l.event === 'reloaded' && l['workers'] === 2, 'reloaded', mark);
    };
    await reload('other');
    assert.deepEqual(new Set(all()), new Set([SCHED_OTHER]));
    // The workers serve under either.
    (await login(imapPort, 'alice', 'alice-pw')).close();
    await reload();
    assert.deepEqual(new Set(all()), new Set([SCHED_BATCH]));
    (await login(imapPort, 'alice', 'alice-pw')).close();
    await settled(adminPort);
  });

  test('process.workers changed by a reload: a new worker starts and serves; a removed one drains and is not replaced', async () => {
    writeConfig('users-2', 0, 10_000, 3);
    const mark = lines(postern).length;
    postern.child.kill('SIGHUP');
    await waitLine(postern, (l) => l.event === 'workers_resized' && l['workers'] === 3, 'resized to 3', mark);
    const third = await waitLine(postern, (l) => l.event === 'worker_started' && l.worker === 2, 'worker 2 started', mark);
    // Logins until the new worker has served some (the kernel spreads accepts; bounded).
    const open: ScriptedClient[] = [];
    const mark2 = lines(postern).length;
    for (let i = 0; i < 300 && !(await proxyStarts(postern, mark2, open.length)).some((l) => l.worker === 2); i += 10) {
      open.push(...(await Promise.all(Array.from({ length: 10 }, () => login(imapPort, 'alice', 'alice-pw')))));
    }
    const byWorker = await proxyStarts(postern, mark2, open.length);
    const onThird = byWorker.filter((l) => l.worker === 2).length;
    assert.ok(onThird > 0, 'the new worker serves logins');

    writeConfig('users-2', 0, 10_000, 2);
    const mark3 = lines(postern).length;
    postern.child.kill('SIGHUP');
    await waitLine(postern, (l) => l.event === 'workers_resized' && l['workers'] === 2, 'resized to 2', mark3);
    // Its sessions get process.shutdown_timeout (3 s), then the goodbye; the others go on.
    const retired = await waitLine(postern, (l) => l.event === 'worker_retired' && l.pid === third.pid, 'worker 2 retired', mark3, 20_000);
    assert.equal(retired.worker, 2);
    const alive = await Promise.all(open.map((c, i) => c.command(`r${i} NOOP`, new RegExp(`^r${i} OK`, 'm'), 10_000).then(() => true, () => false)));
    assert.equal(alive.filter(Boolean).length, open.length - onThird, 'exactly the sessions of the removed worker ended');
    // Not replaced, and logins go on with the two left.
    const fresh = await login(imapPort, 'alice', 'alice-pw');
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(lines(postern).slice(mark3).filter((l) => l.event === 'worker_started').length, 0, 'no worker started');
    for (const c of [...open, fresh]) c.close();
    await settled(adminPort);
  });

  test('a worker that dies in a crash loop and waits for its replacement is not replaced once a reload removes its slot', async () => {
    writeConfig('users-2', 0, 10_000, 3);
    let mark = lines(postern).length;
    postern.child.kill('SIGHUP');
    await waitLine(postern, (l) => l.event === 'workers_resized' && l['workers'] === 3, 'resized to 3', mark);
    let pid = (await waitLine(postern, (l) => l.event === 'worker_started' && l.worker === 2, 'worker 2 started', mark)).pid!;
    // Each death of a young worker doubles the wait before its replacement: 0, 1, 2, 4 s.
    let died: Line | undefined;
    for (let i = 0; i < 6; i++) {
      mark = lines(postern).length;
      process.kill(pid, 'SIGKILL');
      died = await waitLine(postern, (l) => l.event === 'worker_died' && l.pid === pid, `worker_died ${i}`, mark);
      if ((died['restart_in_ms'] as number) >= 4000) break;
      pid = (await waitLine(postern, (l) => l.event === 'worker_started' && l.worker === 2, `replacement ${i}`, mark)).pid!;
    }
    assert.ok(died && (died['restart_in_ms'] as number) >= 4000, 'the replacement waits');
    const diedAt = Date.parse(died['time'] as string);

    writeConfig('users-2', 0, 10_000, 2);
    const mark2 = lines(postern).length;
    postern.child.kill('SIGHUP');
    const resized = await waitLine(postern, (l) => l.event === 'workers_resized' && l['workers'] === 2, 'resized to 2', mark2);
    assert.ok(Date.parse(resized['time'] as string) < diedAt + (died['restart_in_ms'] as number), 'the reload came while the replacement waited');
    // Past the moment the replacement was due: none started, none retires (it had nothing to drain).
    await new Promise((r) => setTimeout(r, Math.max(0, diedAt + (died!['restart_in_ms'] as number) + 1000 - Date.now())));
    const since = lines(postern).slice(mark2);
    assert.deepEqual(since.filter((l) => l.event === 'worker_started' || l.event === 'worker_retired'), [], 'no worker started or retired');
    // Logins go on with the two left.
    const c = await login(imapPort, 'alice', 'alice-pw');
    c.close();
    await settled(adminPort);
  });

  test('the admin token rotated in its file: the POST /reload that applies it is answered, and from then on only the new token is taken', async () => {
    const rotated = 'process-model-rotated-token-0123456789';
    const tokenFile = join(tmp.path, 'token');
    writeFileSync(tokenFile, `${rotated}\n`);
    try {
      const reload = await api(adminPort, 'POST', '/reload');
      assert.equal(reload.status, 200, JSON.stringify(reload.json));
      assert.equal((await api(adminPort, 'GET', '/sessions')).status, 401, 'the old token is refused');
      assert.equal((await api(adminPort, 'GET', '/sessions', undefined, rotated)).status, 200);
    } finally {
      // Back to the suite's token for the tests that follow.
      writeFileSync(tokenFile, `${TOKEN}\n`);
      assert.equal((await api(adminPort, 'POST', '/reload', undefined, rotated)).status, 200);
    }
    assert.equal((await api(adminPort, 'GET', '/sessions')).status, 200);
  });

  test('SIGTERM: no new connections, open sessions run until process.shutdown_timeout, then * BYE', async () => {
    const open = await Promise.all(Array.from({ length: 4 }, () => login(imapPort, 'alice', 'alice-pw')));
    postern.child.kill('SIGTERM');
    await waitLine(postern, (l) => l.event === 'draining' && l.worker === 0, 'worker 0 draining');
    await waitLine(postern, (l) => l.event === 'draining' && l.worker === 1, 'worker 1 draining');
    assert.match(await open[0]!.command('d NOOP', /^d OK/m), /^d OK/m, 'sessions still work while draining');
    const refused = await readImap(imapPort).then(
      (c) => (c.close(), false),
      () => true,
    );
    assert.equal(refused, true, 'new connections are refused');
    const ends = await Promise.all(open.map((c) => c.closed(15_000)));
    for (const end of ends) assert.match(end, /\* BYE Server shutting down\.\r\n$/);
    const exit = await postern.exited;
    assert.equal(exit.code, 0, postern.output().slice(-2000));
    assert.ok(lines(postern).some((l) => l.event === 'stopped' && l.worker === undefined), 'the primary says it stopped');
  });
});
