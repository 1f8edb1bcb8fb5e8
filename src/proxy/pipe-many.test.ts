import assert from 'node:assert/strict';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { test } from 'node:test';
import { joinSockets } from './pipe.js';
import type { PipeEnd } from './pipe.js';
import { nativeRelayMissing } from '../net/index.js';
import { socketPair } from '../../test/support/relay.js';

/**
 * Many sessions at once through the native relay, each ending its own way while the others talk: a
 * session's first commands run on Node's loop and the rest on the relay thread, its timers on the
 * thread, its end and its disconnect delay are told back through the main thread. What either thread
 * does to one session must leave the others whole.
 */

const SESSIONS = 120;
const ENDINGS = ['client-end', 'backend-end', 'kick', 'farewell', 'idle', 'reset', 'delay'] as const;
type Ending = (typeof ENDINGS)[number];

/** The reason each way of ending gives (pipe.ts's PipeEndReason). */
const EXPECTED: Record<Ending, string> = {
  'client-end': 'client disconnected',
  'backend-end': 'backend disconnected',
  kick: 'kicked',
  farewell: 'shutdown',
  idle: 'idle timeout',
  reset: 'client error: read ECONNRESET',
  delay: 'backend disconnected',
};

/** A small deterministic generator, so a failure repeats. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** The reply to `n` bytes of the client's: a line as long as a short IMAP reply. */
function replies(s: Socket): { next(len: number): Promise<string> } {
  let buf = '';
  let want: { len: number; resolve: (s: string) => void } | undefined;
  s.setEncoding('latin1');
  s.on('data', (d: string) => {
    buf += d;
    if (want && buf.length >= want.len) {
      const got = buf.slice(0, want.len);
      buf = buf.slice(want.len);
      const w = want;
      want = undefined;
      w.resolve(got);
    }
  });
  return {
    next: (len) =>
      new Promise((resolve) => {
        if (buf.length >= len) {
          const got = buf.slice(0, len);
          buf = buf.slice(len);
          resolve(got);
        } else {
          want = { len, resolve };
        }
      }),
  };
}

async function session(i: number, random: () => number): Promise<void> {
  const ending = ENDINGS[i % ENDINGS.length]!;
  const [client, clientSide] = await socketPair();
  const [backend, backendSide] = await socketPair();
  client.on('error', () => {});
  backend.on('error', () => {});
  const pipe = joinSockets(clientSide, backendSide, {
    relay: 'auto',
    idleTimeoutMs: ending === 'idle' ? 150 + Math.floor(random() * 150) : 60_000,
    ...(ending === 'delay' ? { clientCloseDelay: () => 50 + Math.floor(random() * 100) } : {}),
  });
  backend.on('data', (d: Buffer) => backend.write(d.toString('latin1').replace(/NOOP/g, 'OK NOOP')));
  const atClient = replies(client);
  // Up to eight commands, one at a time: sessions with three or more move to the relay thread.
  const commands = Math.floor(random() * 9);
  for (let n = 1; n <= commands; n++) {
    const line = `S${i}.${n} NOOP\r\n`;
    client.write(line);
    assert.equal(await atClient.next(line.length + 3), `S${i}.${n} OK NOOP\r\n`);
  }
  const closed = once(client, 'close');
  switch (ending) {
    case 'client-end':
      client.end();
      break;
    case 'backend-end':
    case 'delay':
      backend.end();
      break;
    case 'kick':
      pipe.destroy('kicked');
      break;
    case 'farewell':
      pipe.destroy('shutdown', '* BYE Server shutting down.\r\n');
      assert.equal(await atClient.next('* BYE Server shutting down.\r\n'.length), '* BYE Server shutting down.\r\n');
      break;
    case 'idle':
      break;
    case 'reset':
      client.resetAndDestroy();
      break;
  }
  const end: PipeEnd = await pipe.done;
  assert.equal(end.reason, EXPECTED[ending], `session ${i} (${ending}, ${commands} commands)`);
  if (ending !== 'reset') assert.equal(end.bytesIn, [...Array(commands).keys()].reduce((sum, n) => sum + `S${i}.${n + 1} NOOP\r\n`.length, 0));
  await closed;
  backend.destroy();
}

test('120 sessions at once through the native relay, each ending its own way, all end whole', { skip: nativeRelayMissing, timeout: 60_000 }, async () => {
  const random = lcg(0x5eed);
  const all = Array.from({ length: SESSIONS }, (_, i) => session(i, random));
  const results = await Promise.allSettled(all);
  const failed = results.flatMap((r, i) => (r.status === 'rejected' ? [`${i}: ${(r.reason as Error).message}`] : []));
  assert.deepEqual(failed, []);
});
