import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { passdbSpecSchema, type PassdbSpecInput } from '../config.js';
import { makeAuthRequest } from '../testing.js';
import { createPassdb } from './registry.js';

// The driver without a directory server; test/interop/ldap-passdb.test.ts runs it against slapd.

const create = (s: Omit<PassdbSpecInput, 'driver'>, baseDir?: string) =>
  createPassdb(passdbSpecSchema.parse({ driver: 'ldap', ...s }), baseDir ? { baseDir } : {});

/** A port that refuses connections: listen, note the port, close. */
async function deadPort(): Promise<number> {
  const s: Server = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

describe('ldap passdb driver', () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'postern-ldap-'));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('wants exactly one of ldap: and args, and ldap: only on driver ldap', () => {
    const issue = (s: PassdbSpecInput) => {
      const r = passdbSpecSchema.safeParse(s);
      return r.success ? undefined : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    };
    assert.match(issue({ driver: 'ldap' }) ?? '', /^ldap: driver ldap needs either/);
    assert.match(issue({ driver: 'ldap', args: '/x.conf', ldap: { base: 'x', uris: 'ldap://h' } }) ?? '', /^ldap: driver ldap needs either/);
    assert.match(issue({ driver: 'static', ldap: { base: 'x', uris: 'ldap://h' } }) ?? '', /^ldap: ldap: settings belong to driver ldap/);
    assert.throws(() => create({ args: join(dir, 'missing.conf') }), { code: 'AUTH_CONFIG', message: /no such file/ });
  });

  it('reads args relative to the configuration folder', async () => {
    await writeFile(join(dir, 'ldap.conf.ext'), 'uris = ldap://127.0.0.1:1\nbase = dc=x\n');
    const db = create({ args: 'ldap.conf.ext' }, dir);
    assert.equal(db.name, 'ldap ldap://127.0.0.1:1');
    await db.close();
  });

  it('an unreachable server is a temporary failure, then closed is closed', async () => {
    const port = await deadPort();
    const db = create({ ldap: { uris: `ldap://127.0.0.1:${port}`, base: 'dc=x', dn: 'cn=a', dnpass: 'top-secret' } });
    const r = await db.lookup(makeAuthRequest({ user: 'alice', password: 'pw' }));
    assert.equal(r.kind, 'tempFail');
    assert.ok(r.kind === 'tempFail');
    assert.match(r.reason, new RegExp(`ldap://127.0.0.1:${port}: ECONNREFUSED`));
    assert.doesNotMatch(r.reason, /top-secret/);
    await Promise.all([db.close(), db.close()]);
    assert.deepEqual(await db.lookup(makeAuthRequest({ user: 'alice' })), { kind: 'tempFail', reason: 'ldap passdb is closed' });
  });

  it('unknown variables in a template fail the config, not the login', () => {
    assert.throws(() => create({ ldap: { uris: 'ldap://h', base: 'dc=x', pass_filter: '(uid=%{nope})' } }), { code: 'AUTH_CONFIG' });
  });
});
