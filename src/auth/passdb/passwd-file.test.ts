import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { passdbSpecSchema, type PassdbSpecInput } from '../config.js';
import { makeAuthRequest } from '../testing.js';
import type { Passdb } from '../types.js';
import { parsePasswdFile, parsePasswdFileArgs } from './passwd-file-format.js';
import { createPassdb } from './registry.js';

const spec = (s: PassdbSpecInput) => passdbSpecSchema.parse(s);
const pdb = (args: string, extra: Partial<PassdbSpecInput> = {}, baseDir?: string): Passdb =>
  createPassdb(spec({ driver: 'passwd-file', args, ...extra }), baseDir ? { baseDir } : {});

describe('passwd-file format', () => {
  it('parses Dovecot lines', () => {
    const { users, warnings } = parsePasswdFile(
      [
        '# comment',
        '',
        ':nouser',
        'a:{PLAIN}pa:ss:1000:1000::/home/a::proxy=y host=%{passdb:h} nopassword',
        'b:{PLAIN}x',
        'c',
        'd::',
        'e:secret',
        'f:hash[34]',
        'g:hash[13]',
        'h:$6$x[34]',
        'i:{PLAIN}x:::::::old_format_mail',
        'j:{PLAIN}x:::::::proxy=y:port',
        'k:{PLAIN}x\r',
        'a:{PLAIN}duplicate',
        'n:{PLAIN}x\0y',
      ].join('\n'),
    );
    assert.deepEqual(Object.fromEntries(users), {
      a: { password: '{PLAIN}pa', extraFields: [] },
      b: { password: '{PLAIN}x', extraFields: [] },
      c: { password: null, extraFields: [] },
      d: { password: null, extraFields: [] },
      e: { password: 'secret', extraFields: [] },
      f: { password: '{PLAIN-MD5}hash', extraFields: [] },
      g: { password: '{CRYPT}hash', extraFields: [] },
      h: { password: '$6$x[34]', extraFields: [] },
      i: { password: '{PLAIN}x', extraFields: [] },
      j: { password: '{PLAIN}x', extraFields: [] },
      k: { password: '{PLAIN}x', extraFields: [] },
    });
    assert.equal(warnings.length, 2);
    assert.ok(!warnings.join().includes('duplicate'), 'warnings never quote passwords');
  });

  it('extra fields start at field 8 and may contain colons', () => {
    const { users } = parsePasswdFile('a:{PLAIN}x:1:1:gecos:/home:/bin/sh:proxy=y userdb_mail=maildir:~/M  host=h');
    assert.deepEqual(users.get('a')?.extraFields, ['proxy=y', 'userdb_mail=maildir:~/M', 'host=h']);
  });

  it('never throws on hostile input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (text) => {
        const { users } = parsePasswdFile(text);
        for (const name of users.keys()) assert.ok(!/[:\n\0]/.test(name));
      }),
      { numRuns: 500 },
    );
  });

  const argCases: ReadonlyArray<[args: string, want: ReturnType<typeof parsePasswdFileArgs> | 'error']> = [
    ['/etc/users', { path: '/etc/users', scheme: 'CRYPT', usernameFormat: '%u' }],
    ['scheme=PLAIN username_format=%n /etc/imap.%d', { path: '/etc/imap.%d', scheme: 'PLAIN', usernameFormat: '%n' }],
    ['/path with space', { path: '/path with space', scheme: 'CRYPT', usernameFormat: '%u' }],
    ['users.txt', { path: 'users.txt', scheme: 'CRYPT', usernameFormat: '%u' }],
    ['bogus=1 /etc/users', 'error'],
    ['scheme=PLAIN', 'error'],
    ['', 'error'],
  ];
  for (const [args, want] of argCases) {
    it(`args ${JSON.stringify(args)}`, () => {
      if (want === 'error') assert.throws(() => parsePasswdFileArgs(args), { code: 'AUTH_CONFIG' });
      else assert.deepEqual(parsePasswdFileArgs(args), want);
    });
  }
});

describe('passwd-file driver', () => {
  let dir = '';
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'postern-pwfile-'));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('finds users, prefixes the default scheme, expands extra fields', async () => {
    const file = join(dir, 'users');
    await writeFile(file, 'alice@example.com:$6$salt$hash::::::proxy=y host=%d.backend nologin\nbob@example.com:{PLAIN}x\n');
    const db = pdb(`scheme=CRYPT ${file}`);
    assert.deepEqual(await db.lookup(makeAuthRequest()), {
      kind: 'found',
      password: '{CRYPT}$6$salt$hash',
      fields: { proxy: 'y', host: 'example.com.backend', nologin: '' },
    });
    assert.deepEqual(await db.lookup(makeAuthRequest({ user: 'bob@example.com' })), { kind: 'found', password: '{PLAIN}x', fields: {} });
    assert.deepEqual(await db.lookup(makeAuthRequest({ user: 'carol@example.com' })), { kind: 'userUnknown' });
  });

  it('re-reads the file after a rewrite', async () => {
    const file = join(dir, 'reload');
    await writeFile(file, 'u:{PLAIN}one\n');
    const db = pdb(file);
    const r1 = await db.lookup(makeAuthRequest({ user: 'u' }));
    assert.equal(r1.kind === 'found' && r1.password, '{PLAIN}one');
    // Same size on purpose: only the mtime tells the two versions apart.
    await writeFile(file, 'u:{PLAIN}two\n');
    const later = new Date(Date.now() + 5000);
    await utimes(file, later, later);
    const r2 = await db.lookup(makeAuthRequest({ user: 'u' }));
    assert.equal(r2.kind === 'found' && r2.password, '{PLAIN}two');
  });

  it('a missing or unreadable file is a temporary failure, never unknown user', async () => {
    const db = pdb(join(dir, 'does-not-exist'));
    const r = await db.lookup(makeAuthRequest());
    assert.equal(r.kind, 'tempFail');
    const asDir = pdb(dir); // a directory cannot be read as a file
    assert.equal((await asDir.lookup(makeAuthRequest())).kind, 'tempFail');
  });

  it('a file that disappears after a good read is a temporary failure', async () => {
    const file = join(dir, 'vanishing');
    await writeFile(file, 'u:{PLAIN}x\n');
    const db = pdb(file);
    assert.equal((await db.lookup(makeAuthRequest({ user: 'u' }))).kind, 'found');
    await rm(file);
    assert.equal((await db.lookup(makeAuthRequest({ user: 'u' }))).kind, 'tempFail');
  });

  it('path variables: one file per domain; no file means no such domain', async () => {
    await mkdir(join(dir, 'example.com'));
    await writeFile(join(dir, 'example.com', 'passwd'), 'alice:{PLAIN}x\n');
    const db = pdb(`username_format=%n ${dir}/%d/passwd`);
    assert.equal((await db.lookup(makeAuthRequest({ user: 'alice@example.com' }))).kind, 'found');
    assert.equal((await db.lookup(makeAuthRequest({ user: 'alice@example.org' }))).kind, 'userUnknown');
    assert.equal((await db.lookup(makeAuthRequest({ user: 'alice' }))).kind, 'userUnknown');
    // A domain cannot walk out of the directory.
    assert.equal((await db.lookup(makeAuthRequest({ user: 'alice@..' }))).kind, 'userUnknown');
    assert.equal((await db.lookup(makeAuthRequest({ user: 'alice@example.com/../example.com' }))).kind, 'found');
  });

  it('user names with separators never match another entry', async () => {
    const file = join(dir, 'seps');
    await writeFile(file, 'a:{PLAIN}x\na:b:{PLAIN}y\nc\0d:{PLAIN}z\nc:{PLAIN}w\n');
    const db = pdb(file);
    for (const user of ['a:b', 'a:{PLAIN}x', 'c\0d', 'c\0', 'a\n', 'a\r', '']) {
      assert.deepEqual(await db.lookup(makeAuthRequest({ user })), { kind: 'userUnknown' }, JSON.stringify(user));
    }
  });

  it('hostile lines do not break the others', async () => {
    const file = join(dir, 'hostile');
    const junk = ['::::', '\0\0', '=:=', 'x:{PLAIN}y::::::=novalue __proto__=1 constructor=2', '\uFFFF:\uD800', 'z'.repeat(100_000)];
    await writeFile(file, `${junk.join('\n')}\nok:{PLAIN}fine\n`);
    const db = pdb(file);
    assert.deepEqual(await db.lookup(makeAuthRequest({ user: 'ok' })), { kind: 'found', password: '{PLAIN}fine', fields: {} });
    const x = await db.lookup(makeAuthRequest({ user: 'x' }));
    assert.equal(x.kind, 'found');
    assert.equal(Object.getPrototypeOf(x.kind === 'found' ? x.fields : {}), Object.prototype);
    assert.deepEqual(x.kind === 'found' && { ...x.fields }, { constructor: '2' });
  });

  it('unknown variables in extra fields are a temporary failure, as Dovecot', async () => {
    const file = join(dir, 'badvar');
    await writeFile(file, 'u:{PLAIN}x::::::host=%{nosuch}\n');
    const r = await pdb(file).lookup(makeAuthRequest({ user: 'u' }));
    assert.equal(r.kind, 'tempFail');
  });

  it('relative paths resolve against baseDir, and need one', async () => {
    await writeFile(join(dir, 'rel'), 'u:{PLAIN}x\n');
    assert.equal((await pdb('rel', {}, dir).lookup(makeAuthRequest({ user: 'u' }))).kind, 'found');
    assert.throws(() => pdb('rel'), { code: 'AUTH_CONFIG' });
  });

  it('rejects an unknown default scheme at creation', () => {
    assert.throws(() => pdb('scheme=NOPE /x'), { code: 'AUTH_CONFIG' });
  });

  it('concurrent lookups share one read', async () => {
    const file = join(dir, 'concurrent');
    await writeFile(file, Array.from({ length: 2000 }, (_, i) => `u${i}:{PLAIN}p${i}`).join('\n'));
    const db = pdb(file);
    const rs = await Promise.all(Array.from({ length: 50 }, (_, i) => db.lookup(makeAuthRequest({ user: `u${i * 7}` }))));
    rs.forEach((r, i) => assert.equal(r.kind === 'found' && r.password, `{PLAIN}p${i * 7}`));
  });
});
