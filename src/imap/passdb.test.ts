import assert from 'node:assert/strict';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createPassdb, makeAuthRequest, passdbSpecSchema, registerPassdbDriver } from '../auth/index.js';
import { imapFailureResult, imapPassdbDriver, parseImapPassdbArgs } from './passdb.js';

registerPassdbDriver(imapPassdbDriver);

/** A scripted IMAP server: LOGIN user pass answered from a table. */
function fakeImap(answers: Record<string, string>, greeting = '* OK [CAPABILITY IMAP4rev1 AUTH=PLAIN] ready'): Promise<{ server: Server; port: number; logins: string[] }> {
  const logins: string[] = [];
  const server = createServer((s) => {
    s.write(`${greeting}\r\n`);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString('latin1');
      for (let nl = buf.indexOf('\r\n'); nl >= 0; nl = buf.indexOf('\r\n')) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 2);
        const [tag, cmd, ...rest] = line.split(' ');
        if (cmd?.toUpperCase() === 'LOGIN') {
          const who = rest.join(' ');
          logins.push(who);
          s.write(`${tag} ${answers[who] ?? 'NO [AUTHENTICATIONFAILED] Authentication failed.'}\r\n`);
        } else if (cmd?.toUpperCase() === 'CAPABILITY') s.write(`* CAPABILITY IMAP4rev1\r\n${tag} OK done\r\n`);
        else if (cmd?.toUpperCase() === 'LOGOUT') s.end(`* BYE\r\n${tag} OK bye\r\n`);
        else s.write(`${tag} BAD what\r\n`);
      }
    });
    s.on('error', () => {});
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, port: (server.address() as AddressInfo).port, logins })));
}

describe('imap passdb args (Dovecot 2.3)', () => {
  it('reads host, port, username, ssl and the CA settings', () => {
    assert.deepEqual(parseImapPassdbArgs('host=imap.%d'), { host: 'imap.%d', port: 143, username: '%u', ssl: 'none', allowInvalidCert: false, ignored: [] });
    assert.equal(parseImapPassdbArgs('host=h ssl=imaps').port, 993);
    assert.equal(parseImapPassdbArgs('host=h port=1993 ssl=imaps').port, 1993);
    assert.deepEqual(parseImapPassdbArgs('host=h ssl=starttls username=%n@example.com ssl_ca_file=/ca.pem allow_invalid_cert=yes rawlog_dir=/tmp'), {
      host: 'h', port: 143, username: '%n@example.com', ssl: 'starttls', sslCaFile: '/ca.pem', allowInvalidCert: true, ignored: ['rawlog_dir'],
    });
  });
  for (const bad of ['', 'port=143', 'host=h port=0', 'host=h port=x', 'host=h ssl=yes', 'host=h bogus=1', 'host=h allow_invalid_cert=maybe']) {
    it(`refuses ${JSON.stringify(bad)}`, () => assert.throws(() => parseImapPassdbArgs(bad), { code: 'AUTH_CONFIG' }));
  }
});

describe('imap passdb failure results', () => {
  const table: Array<[Parameters<typeof imapFailureResult>[0], string]> = [
    [{ kind: 'authRefused', detail: 'x' }, 'passwordMismatch'],
    [{ kind: 'remoteCode', detail: 'x', remoteReply: 'NO [AUTHORIZATIONFAILED] no' }, 'passwordMismatch'],
    [{ kind: 'remoteCode', detail: 'x', remoteReply: 'NO [EXPIRED] change it' }, 'passwordMismatch'],
    [{ kind: 'remoteCode', detail: 'x', remoteReply: 'NO [CONTACTADMIN] no' }, 'tempFail'],
    [{ kind: 'authTempFail', detail: 'x', remoteReply: 'NO [UNAVAILABLE] later' }, 'tempFail'],
    [{ kind: 'connect', detail: 'refused' }, 'tempFail'],
    [{ kind: 'timeout', detail: 't' }, 'tempFail'],
    [{ kind: 'config', detail: 'cert' }, 'tempFail'],
    [{ kind: 'protocol', detail: 'banner' }, 'tempFail'],
  ];
  for (const [f, want] of table) it(`${f.kind} ${f.remoteReply ?? ''} → ${want}`, () => assert.equal(imapFailureResult(f).kind, want));
});

describe('imap passdb against a scripted server', () => {
  let remote: Awaited<ReturnType<typeof fakeImap>>;
  before(async () => {
    remote = await fakeImap({ 'alice good-pw': 'OK [CAPABILITY IMAP4rev1] Logged in', 'carol pw': 'NO [UNAVAILABLE] try later', 'dave pw': 'NO no code' });
  });
  after(() => new Promise<void>((r) => remote.server.close(() => r())));

  const passdb = (args: string, extra: Record<string, string> = {}) => createPassdb(passdbSpecSchema.parse({ driver: 'imap', args, ...extra }), {});
  const check = (user: string, password?: string, args = `host=127.0.0.1 port=${remote.port}`, extra: Record<string, string> = {}) =>
    passdb(args, extra).lookup(makeAuthRequest({ user, ...(password !== undefined ? { password } : {}) }));

  it('accepts what the server accepts, with default_fields and override_fields', async () => {
    const r = await check('alice', 'good-pw', undefined, { default_fields: 'proxy=y', override_fields: 'userdb_imapc_user=%u' });
    assert.deepEqual(r, { kind: 'ok', fields: { proxy: 'y', userdb_imapc_user: 'alice' } });
  });
  it('maps the refusals as Dovecot does', async () => {
    assert.deepEqual(await check('alice', 'bad'), { kind: 'passwordMismatch' });
    assert.deepEqual(await check('dave', 'pw'), { kind: 'passwordMismatch' }, 'NO without a code');
    assert.equal((await check('carol', 'pw')).kind, 'tempFail', '[UNAVAILABLE]');
  });
  it('logs in with the username template', async () => {
    await check('alice@example.com', 'good-pw', `host=127.0.0.1 port=${remote.port} username=%n`);
    assert.ok(remote.logins.includes('alice good-pw'));
  });
  it('is a temporary failure when the server cannot be reached or no password is given', async () => {
    const dead = await fakeImap({});
    const port = dead.port;
    await new Promise<void>((r) => dead.server.close(() => r()));
    assert.equal((await check('alice', 'good-pw', `host=127.0.0.1 port=${port}`)).kind, 'tempFail');
    assert.equal((await check('alice')).kind, 'tempFail');
  });
});
