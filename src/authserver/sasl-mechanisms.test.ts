// The auth service with the mechanisms beyond PLAIN and LOGIN (auth/sasl): MECH flags, CRAM-MD5
// and SCRAM over CONT lines, SCRAM's verifier and OAuth's JSON error in resp=, master users and
// their code=authz_fail, and tokens a passdb only forwards (never OK here).
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ChainAuthenticator, MasterUserAuthenticator, MemoryPassdb } from '../auth/index.js';
import { cramMd5Response, scramClient } from '../auth/sasl/test-clients.js';
import { startHarness, type Harness } from './test-harness.js';

const T = '\t';
const A = '\x01';
const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');
const unb64 = (line: string) => Buffer.from(line.split(T).at(-1)!.replace(/^resp=/, ''), 'base64');

describe('auth service: CRAM-MD5, SCRAM, OAuth, master users', () => {
  let h: Harness;
  before(async () => {
    const normal = new ChainAuthenticator([
      { passdb: new MemoryPassdb({ alice: { password: 'alice-pw' }, proxied: { password: null, fields: { nopassword: 'y', proxy: 'y', host: 'h', proxy_mech: 'xoauth2' } } }) },
    ]);
    const auth = new MasterUserAuthenticator(normal, new ChainAuthenticator([{ passdb: new MemoryPassdb({ admin: { password: 'admin-pw' } }) }]), '*');
    h = await startHarness(auth, { failureDelayMs: 0, mechanisms: ['PLAIN', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256', 'XOAUTH2', 'OAUTHBEARER'] });
  });
  after(() => h.close());

  const session = async () => {
    const c = await h.connect();
    await c.handshake();
    c.send(`VERSION${T}1${T}2\nCPID${T}1\n`);
    return c;
  };

  it('MECH lines carry each mechanism\'s flags', async () => {
    const lines = await (await h.connect()).handshake();
    assert.deepEqual(lines.filter((l) => l.startsWith('MECH')), [
      `MECH${T}PLAIN${T}plaintext`,
      `MECH${T}CRAM-MD5${T}dictionary${T}active`,
      `MECH${T}SCRAM-SHA-1${T}mutual-auth`,
      `MECH${T}SCRAM-SHA-256${T}mutual-auth`,
      `MECH${T}XOAUTH2${T}plaintext`,
      `MECH${T}OAUTHBEARER${T}plaintext`,
    ]);
  });

  it('CRAM-MD5: the challenge in CONT, the answer in CONT, OK', async () => {
    const c = await session();
    c.send(`AUTH${T}1${T}CRAM-MD5${T}service=smtp\n`);
    const ch = unb64(await c.reply(`CONT${T}1`));
    c.send(`CONT${T}1${T}${b64(cramMd5Response('alice', 'alice-pw', ch))}\n`);
    assert.equal(await c.reply(`OK${T}1`), `OK${T}1${T}user=alice`);
  });

  it('SCRAM-SHA-256: the server signature comes as resp= on the OK', async () => {
    const c = await session();
    const s = scramClient('sha256', 'alice', 'alice-pw', 'mta-nonce');
    c.send(`AUTH${T}2${T}SCRAM-SHA-256${T}service=smtp${T}resp=${b64(s.first())}\n`);
    const sf = unb64(await c.reply(`CONT${T}2`));
    c.send(`CONT${T}2${T}${b64(s.final(sf))}\n`);
    const ok = await c.reply(`OK${T}2`);
    assert.equal(ok, `OK${T}2${T}user=alice${T}resp=${b64(s.expectedVerifier())}`);
  });

  it('a master login as alice; a master naming nobody: FAIL code=authz_fail', async () => {
    const c = await session();
    c.send(`AUTH${T}3${T}PLAIN${T}service=smtp${T}resp=${b64('alice\0admin\0admin-pw')}\n`);
    assert.equal(await c.reply(`OK${T}3`), `OK${T}3${T}user=alice`);
    c.send(`AUTH${T}4${T}PLAIN${T}service=smtp${T}resp=${b64('\0nobody*admin\0admin-pw')}\n`);
    assert.equal(await c.reply(`FAIL${T}4`), `FAIL${T}4${T}user=nobody*admin${T}code=authz_fail${T}reason=Authentication failed`);
  });

  it('a token only a backend would check is never OK here; a refused one carries the JSON in resp=', async () => {
    const c = await session();
    c.send(`AUTH${T}5${T}XOAUTH2${T}service=smtp${T}resp=${b64(`user=proxied${A}auth=Bearer anything${A}${A}`)}\n`);
    assert.equal(await c.reply(`FAIL${T}5`), `FAIL${T}5${T}user=proxied${T}reason=Authentication failed`);
    c.send(`AUTH${T}6${T}OAUTHBEARER${T}service=smtp${T}resp=${b64(`n,a=alice,${A}auth=Bearer wrong${A}${A}`)}\n`);
    const fail = await c.reply(`FAIL${T}6`);
    assert.match(fail, /^FAIL\t6\tuser=alice\treason=Authentication failed\tresp=/);
    assert.deepEqual(JSON.parse(unb64(fail).toString()), { status: 'invalid_token', scope: 'mail' });
  });
});
