// Broken clients: each protocol violation gets one clear log line and closes that connection
// only (or FAILs the one request, when the request itself is at fault). Nothing crashes.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { MemoryAuthenticator } from '../auth/index.js';
import { MAX_LINE_BYTES } from './limits.js';
import { startHarness, type Harness, type RawClient } from './test-harness.js';

const T = '\t';
const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const GOOD = b64('\0alice\0alice-pw');

describe('auth service: malformed input', () => {
  let h: Harness;
  let bystander: RawClient;
  before(async () => {
    h = await startHarness(new MemoryAuthenticator({ alice: { password: 'alice-pw' } }));
    bystander = await h.connect();
    await bystander.handshake();
    bystander.send(`VERSION${T}1${T}0\n`);
  });
  after(async () => {
    // Every broken client above closed only itself: the bystander still authenticates.
    bystander.send(`AUTH${T}1${T}PLAIN${T}service=smtp${T}resp=${GOOD}\n`);
    assert.equal(await bystander.reply(`OK${T}1`), `OK${T}1${T}user=alice`);
    await h.close();
  });

  const ready = async () => {
    const c = await h.connect();
    await c.handshake();
    c.send(`VERSION${T}1${T}0\nCPID${T}1\n`);
    return c;
  };

  /** The connection closes and the log says why. */
  const closesWith = async (c: RawClient, detail: RegExp) => {
    await c.waitClosed();
    const line = await h.logs.waitFor((r) => r['event'] === 'auth_client_protocol_error' && detail.test(String(r['detail'])));
    assert.equal(line['level'], 40); // warn
  };

  const closing: ReadonlyArray<[name: string, send: string, detail: RegExp, handshakeFirst?: boolean]> = [
    ['AUTH before VERSION', `AUTH${T}1${T}PLAIN${T}service=smtp${T}resp=${GOOD}\n`, /^AUTH before VERSION$/, false],
    ['CPID before VERSION', `CPID${T}1\n`, /^CPID before VERSION$/, false],
    ['another major version', `VERSION${T}2${T}0\n`, /protocol version 2\.0/, false],
    ['VERSION twice', `VERSION${T}1${T}0\n`, /VERSION not allowed now \(sent twice\)/],
    ['CPID twice', `CPID${T}2\n`, /CPID sent twice/],
    ['an unknown command', `REQUEST${T}1${T}2${T}3${T}cookie\n`, /unknown command "REQUEST"/],
    ['binary garbage', '\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\n', /unknown command/],
    ['a broken AUTH (no mechanism)', `AUTH${T}1\n`, /broken AUTH/],
    ['a broken CONT (no data)', `CONT${T}1\n`, /broken CONT/],
    ['a broken CANCEL', `CANCEL${T}x\n`, /broken CANCEL/],
    ['a raw NUL byte', `CPID\0${T}1\n`, /NUL byte/],
    ['an oversized line', `AUTH${T}1${T}PLAIN${T}service=smtp${T}resp=${'A'.repeat(MAX_LINE_BYTES)}\n`, new RegExp(`line longer than ${MAX_LINE_BYTES} bytes`)],
    ['an oversized line without LF', 'x'.repeat(MAX_LINE_BYTES * 4), /line longer than/],
  ];
  for (const [name, send, detail, handshakeFirst = true] of closing) {
    it(`${name}: closes the connection`, async () => {
      let c: RawClient;
      if (handshakeFirst) c = await ready();
      else {
        c = await h.connect();
        await c.handshake();
      }
      c.send(send);
      await closesWith(c, detail);
    });
  }

  it('a duplicate id: closes the connection (which request would a reply belong to?)', async () => {
    const c = await ready();
    c.send(`AUTH${T}5${T}LOGIN${T}service=smtp\nAUTH${T}5${T}PLAIN${T}service=smtp${T}resp=${GOOD}\n`);
    await closesWith(c, /duplicate request id 5/);
  });

  it('a duplicate id in a bad request: closes too', async () => {
    const c = await ready();
    c.send(`AUTH${T}6${T}LOGIN${T}service=smtp\nAUTH${T}6${T}PLAIN\n`);
    await closesWith(c, /duplicate request id 6/);
  });

  it('the replies before a protocol error still reach the client', async () => {
    const c = await ready();
    c.send(`CONT${T}7${T}AA==\nBOGUS\n`);
    await c.waitClosed();
    assert.equal(c.replies()[0], `FAIL${T}7${T}reason=Authentication request timed out`);
  });

  const failing: ReadonlyArray<[name: string, send: string, reply: string]> = [
    ['a bad tab escape in a parameter', `AUTH${T}10${T}PLAIN${T}service=smtp${T}rip=1.2.3.4\x01${T}resp=${GOOD}\n`, `FAIL${T}10${T}reason=Invalid AUTH request: invalid tab escape in a parameter`],
    ['parameters after resp', `AUTH${T}11${T}PLAIN${T}service=smtp${T}resp=${GOOD}${T}secured\n`, `FAIL${T}11${T}reason=Invalid AUTH request: parameters after resp (it must be the last)`],
    ['no service', `AUTH${T}12${T}PLAIN${T}resp=${GOOD}\n`, `FAIL${T}12${T}reason=Invalid AUTH request: no service parameter`],
    ['an unknown mechanism', `AUTH${T}13${T}CRAM-MD5${T}service=smtp\n`, `FAIL${T}13${T}reason=Unsupported authentication mechanism`],
    ['invalid base64 in resp', `AUTH${T}14${T}PLAIN${T}service=smtp${T}resp=***\n`, `FAIL${T}14${T}reason=Invalid base64 data in initial response`],
    ['CONT for an unknown id', `CONT${T}15${T}${GOOD}\n`, `FAIL${T}15${T}reason=Authentication request timed out`],
  ];
  for (const [name, send, reply] of failing) {
    it(`${name}: FAIL for that request, the connection stays`, async () => {
      const c = await ready();
      c.send(send);
      const id = reply.split(T)[1]!;
      assert.equal(await c.reply(`FAIL${T}${id}`), reply);
      c.send(`AUTH${T}99${T}PLAIN${T}service=smtp${T}resp=${GOOD}\n`);
      assert.equal(await c.reply(`OK${T}99`), `OK${T}99${T}user=alice`);
      assert.ok(!c.closed);
    });
  }

  it('invalid base64 in CONT, and a CONT nobody asked for, end that request', async () => {
    const c = await ready();
    c.send(`AUTH${T}20${T}PLAIN${T}service=smtp\n`);
    await c.reply(`CONT${T}20`);
    c.send(`CONT${T}20${T}!!\n`);
    assert.equal(await c.reply(`FAIL${T}20`), `FAIL${T}20${T}reason=Invalid base64 data in continued response`);
    c.send(`CONT${T}20${T}${GOOD}\n`);
    assert.equal(await c.reply(`FAIL${T}20`), `FAIL${T}20${T}reason=Authentication request timed out`);
  });

  it('a client that disconnects mid-request leaves nothing behind', async () => {
    const c = await ready();
    const before = h.service.connectionCount;
    c.send(`AUTH${T}30${T}PLAIN${T}service=smtp${T}resp=${b64('\0alice\0wrong')}\n`);
    c.destroy();
    await h.logs.waitFor((r) => r['event'] === 'auth_client_disconnected');
    for (let i = 0; i < 100 && h.service.connectionCount >= before; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(h.service.connectionCount, before - 1);
  });
});
