import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { join } from 'node:path';
import { connect, createServer, TLSSocket, type TlsOptions } from 'node:tls';
import { getTestCerts, makeTempDir, type TempDir, type TestCerts } from '../../test/interop/harness/index.js';
import { createServerTls, type ServerTls } from './tls.js';
import { PosternError } from '../core/index.js';

/** An implicit-TLS server, or one that upgrades each plain connection as STARTTLS does. */
async function serve(tls: ServerTls, how: 'implicit' | 'upgrade'): Promise<{ port: number; close: () => Promise<void> }> {
  const greet = (s: TLSSocket) => {
    s.on('error', () => {});
    s.end('hello\n');
  };
  const server: Server = how === 'implicit'
    ? createServer(tls.options as TlsOptions, greet)
    : createTcpServer((plain) => {
      const s = new TLSSocket(plain, { isServer: true, ...tls.socketOptions });
      s.once('secure', () => greet(s));
      s.on('error', () => plain.destroy());
    });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise((r) => server.close(() => r())) };
}

/** One TLS 1.3 connection, read to its end: whether it resumed `session`, and the first ticket it was given. */
function visit(port: number, ca: string, session?: Buffer): Promise<{ reused: boolean; ticket: Buffer | undefined }> {
  return new Promise((resolve, reject) => {
    let ticket: Buffer | undefined;
    let reused = false;
    const c = connect({ port, host: '127.0.0.1', ca, servername: 'localhost', minVersion: 'TLSv1.3', ...(session ? { session } : {}) });
    const timer = setTimeout(() => (c.destroy(), reject(new Error('TLS visit timed out'))), 5000);
    c.on('secureConnect', () => (reused = c.isSessionReused()));
    c.on('session', (t: Buffer) => (ticket ??= t));
    c.resume();
    c.on('close', () => (clearTimeout(timer), resolve({ reused, ticket })));
    c.on('error', (err) => (clearTimeout(timer), reject(err)));
  });
}

describe('TLS session tickets', { timeout: 30_000 }, () => {
  let certs: TestCerts;
  let tmp: TempDir;
  const base = () => ({ cert: certs.server.certPath, key: certs.server.keyPath, sni: [], min_version: 'TLSv1.2' as const, cert_username_field: 'commonName' });

  before(async () => {
    certs = await getTestCerts();
    tmp = makeTempDir('postern-tickets-');
  });
  after(() => tmp.remove());

  it("one worker's ticket resumes on another, over implicit TLS and STARTTLS alike", async () => {
    // Two ServerTls built apart, as two workers (or a worker before and after a reload) build theirs.
    const a = await serve(createServerTls(base(), (p) => p), 'implicit');
    const b = await serve(createServerTls(base(), (p) => p), 'implicit');
    const up = await serve(createServerTls(base(), (p) => p), 'upgrade');
    try {
      const first = await visit(a.port, certs.ca.cert);
      assert.equal(first.reused, false);
      assert.ok(first.ticket, 'a session ticket was given');
      assert.equal((await visit(b.port, certs.ca.cert, first.ticket)).reused, true, 'implicit TLS on another worker');
      assert.equal((await visit(up.port, certs.ca.cert, first.ticket)).reused, true, 'a STARTTLS upgrade');
    } finally {
      await Promise.all([a.close(), b.close(), up.close()]);
    }
  });

  it('tls.ticket_key_file: nodes with the same file resume each other; another file does not', async () => {
    const shared = join(tmp.path, 'shared.key');
    const other = join(tmp.path, 'other.key');
    writeFileSync(shared, randomBytes(48));
    writeFileSync(other, randomBytes(48));
    const a = await serve(createServerTls({ ...base(), ticket_key_file: shared }, (p) => p), 'implicit');
    const b = await serve(createServerTls({ ...base(), ticket_key_file: shared }, (p) => p), 'implicit');
    const c = await serve(createServerTls({ ...base(), ticket_key_file: other }, (p) => p), 'implicit');
    const d = await serve(createServerTls(base(), (p) => p), 'implicit');
    try {
      const first = await visit(a.port, certs.ca.cert);
      assert.ok(first.ticket, 'a session ticket was given');
      assert.equal((await visit(b.port, certs.ca.cert, first.ticket)).reused, true);
      assert.equal((await visit(c.port, certs.ca.cert, first.ticket)).reused, false, 'other keys: a full handshake');
      assert.equal((await visit(d.port, certs.ca.cert, first.ticket)).reused, false, 'the node-made keys are not the file\'s');
    } finally {
      await Promise.all([a.close(), b.close(), c.close(), d.close()]);
    }
  });

  it('a ticket key file of the wrong size fails at start, naming the file and the size expected', () => {
    const bad = join(tmp.path, 'bad.key');
    writeFileSync(bad, 'short\n');
    assert.throws(() => createServerTls({ ...base(), ticket_key_file: bad }, (p) => p), (err: unknown) => {
      assert.ok(err instanceof PosternError);
      assert.equal(err.code, 'POSTERN_TLS_INVALID');
      assert.match(err.message, /bad\.key holds 6 bytes; expected 48/);
      return true;
    });
  });
});
