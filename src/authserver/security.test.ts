// Issue 7 and operator-asks 11: the auth service checks the password itself. A passdb that
// accepts without a check (nopassword, or a NULL password accepted for proxy, which suits an
// IMAP proxy whose backend checks) must never produce OK here, or anyone could send mail as
// any user. The same chain still lets the IMAP front proxy those users.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChainAuthenticator, MemoryAuthenticator, MemoryPassdb, createAuthenticator, makeAuthRequest, passdbSpecSchema, type Passdb } from '../auth/index.js';
import { startHarness, type Harness } from './test-harness.js';

const T = '\t';
const plain = (user: string, pw: string) => Buffer.from(`\0${user}\0${pw}`).toString('base64');

describe('auth service: only checked passwords succeed', () => {
  let h: Harness;
  const users = {
    checked: { password: 'right', fields: { proxy: 'y', host: '10.0.0.5' } },
    nopw: { password: null, fields: { nopassword: 'y', proxy: 'y', host: '10.0.0.5' } },
    proxynull: { password: null, fields: { proxy: 'y', host: '10.0.0.5' } },
    maybe: { password: null, fields: { proxy_maybe: 'y', host: '10.0.0.5' } },
  };
  before(async () => (h = await startHarness(new MemoryAuthenticator(users))));
  after(() => h.close());

  const attempt = async (user: string, pw: string) => {
    const c = await h.connect();
    await c.handshake();
    c.send(`VERSION${T}1${T}0\nAUTH${T}1${T}PLAIN${T}service=smtp${T}resp=${plain(user, pw)}\n`);
    return c.reply(''); // the first reply, OK or FAIL
  };

  it('a proxy user whose password postern checks: OK', async () => {
    assert.equal(await attempt('checked', 'right'), `OK${T}1${T}user=checked`);
  });

  for (const [user, why] of [
    ['nopw', 'nopassword'],
    ['proxynull', 'a NULL password with proxy'],
    ['maybe', 'a NULL password with proxy_maybe'],
  ] as const) {
    it(`${why}: FAIL whatever the password, with the same text as a wrong one`, async () => {
      for (const pw of ['anything', '', 'right']) {
        assert.equal(await attempt(user, pw), `FAIL${T}1${T}user=${user}${T}reason=Authentication failed`);
      }
      const line = await h.logs.waitFor((r) => r['event'] === 'auth_failed' && r['reason'] === 'passwordNotVerified' && r['user'] === user);
      assert.equal(line['level'], 40);
      assert.match(String(line['msg']), /without checking the password/);
    });
  }

  it('the same chain still accepts those users for an IMAP proxy (the backend checks)', async () => {
    const a = new MemoryAuthenticator(users);
    const r = await a.authenticate(makeAuthRequest({ service: 'imap', user: 'nopw', password: 'anything' }));
    assert.ok(r.kind === 'ok' && !r.passwordVerified);
  });
});

describe('auth service: the Dovecot chain that fails open', () => {
  it('nopassword with result_success=continue-ok, then a real passdb: still refused (skipped check)', async () => {
    const proxyAll: Passdb = new MemoryPassdb({ alice: { password: null, fields: { nopassword: 'y', proxy: 'y', host: 'exchange' } } });
    const real: Passdb = new MemoryPassdb({ alice: { password: 'right' } });
    const h = await startHarness(new ChainAuthenticator([{ passdb: proxyAll, resultSuccess: 'continue-ok' }, { passdb: real }]));
    try {
      const c = await h.connect();
      await c.handshake();
      c.send(`VERSION${T}1${T}0\nAUTH${T}1${T}PLAIN${T}service=smtp${T}resp=${plain('alice', 'wrong')}\n`);
      assert.equal(await c.reply(`FAIL${T}1`), `FAIL${T}1${T}user=alice${T}reason=Authentication failed`);
    } finally {
      await h.close();
    }
  });

  it('the documented split by %s: IMAP proxies unchecked, SMTP goes on to a passdb that checks', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'postern-split-'));
    try {
      writeFileSync(join(dir, 'proxy-imap.passwd'), 'alice:::::::nopassword=y proxy=y host=10.0.0.5\n');
      // Stands in for the imap passdb of docs/auth-service.md: something that verifies the password.
      writeFileSync(join(dir, 'checked.passwd'), 'alice:{PLAIN}right\n');
      const specs = [{ driver: 'passwd-file', args: join(dir, 'proxy-%s.passwd') }, { driver: 'passwd-file', args: join(dir, 'checked.passwd') }];
      const a = createAuthenticator(specs.map((s) => passdbSpecSchema.parse(s)));
      const imap = await a.authenticate(makeAuthRequest({ service: 'imap', user: 'alice', password: 'anything' }));
      assert.ok(imap.kind === 'ok' && !imap.passwordVerified && imap.fields['proxy'] === 'y', JSON.stringify(imap));
      const h = await startHarness(a);
      try {
        const c = await h.connect();
        await c.handshake();
        c.send(`VERSION${T}1${T}0\n`);
        c.send(`AUTH${T}1${T}PLAIN${T}service=smtp${T}resp=${plain('alice', 'right')}\n`);
        c.send(`AUTH${T}2${T}PLAIN${T}service=smtp${T}resp=${plain('alice', 'anything')}\n`);
        assert.equal(await c.reply(`OK${T}1`), `OK${T}1${T}user=alice`);
        assert.equal(await c.reply(`FAIL${T}2`), `FAIL${T}2${T}user=alice${T}reason=Authentication failed`);
      } finally {
        await h.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the safe pattern: checked passwords first, the nopassword proxy last', async () => {
    const real: Passdb = new MemoryPassdb({ alice: { password: 'right', fields: { proxy: 'y', host: 'exchange' } } });
    const proxyAll: Passdb = new MemoryPassdb({ alice: { password: null, fields: { nopassword: 'y', proxy: 'y', host: 'exchange' } }, bob: { password: null, fields: { nopassword: 'y', proxy: 'y', host: 'exchange' } } });
    const h = await startHarness(new ChainAuthenticator([{ passdb: real }, { passdb: proxyAll }]));
    try {
      const c = await h.connect();
      await c.handshake();
      c.send(`VERSION${T}1${T}0\n`);
      c.send(`AUTH${T}1${T}PLAIN${T}service=smtp${T}resp=${plain('alice', 'right')}\n`);
      c.send(`AUTH${T}2${T}PLAIN${T}service=smtp${T}resp=${plain('alice', 'wrong')}\n`);
      c.send(`AUTH${T}3${T}PLAIN${T}service=smtp${T}resp=${plain('bob', 'anything')}\n`);
      assert.equal(await c.reply(`OK${T}1`), `OK${T}1${T}user=alice`);
      assert.equal(await c.reply(`FAIL${T}2`), `FAIL${T}2${T}user=alice${T}reason=Authentication failed`);
      assert.equal(await c.reply(`FAIL${T}3`), `FAIL${T}3${T}user=bob${T}reason=Authentication failed`);
    } finally {
      await h.close();
    }
  });
});
