// The postern command as an operator runs it: help, check, pw.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { findBinary, makeTempDir } from './interop/harness/index.js';

const BIN = join(process.cwd(), 'bin', 'postern.js');

function postern(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', input, timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('postern CLI', () => {
  const tmp = makeTempDir('postern-cli-');
  const write = (name: string, text: string) => {
    const p = join(tmp.path, name);
    writeFileSync(p, text);
    return p;
  };
  test.after(() => tmp.remove());

  test('--help lists the subcommands, and each explains itself', () => {
    const top = postern(['--help']);
    assert.equal(top.code, 0);
    for (const sub of ['serve', 'check', 'pw']) assert.match(top.stdout, new RegExp(`^  ${sub}\\b`, 'm'));
    const serve = postern(['serve', '--help']);
    assert.equal(serve.code, 0);
    assert.match(serve.stdout, /--config <file>/);
  });

  test('check prints the effective configuration with defaults and masked secrets', () => {
    const file = write('ok.yaml', 'listen:\n  - { protocol: imap, port: 1143, tls: none }\nauth:\n  passdb:\n    - { driver: static, args: "password=topsecret proxy=y host=10.0.0.5" }\n');
    const r = postern(['check', '--config', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /: valid/);
    assert.match(r.stdout, /password=\*\*\*/);
    assert.doesNotMatch(r.stdout, /topsecret/);
    assert.match(r.stdout, /max_line_length: 65536/, 'defaults are filled in');
    assert.match(r.stdout, /timeout: 30000/);
  });

  test('a bad configuration names the file, the key path and what was expected', () => {
    const file = write('bad.yaml', 'listen:\n  - { protocol: imap, port: 99999 }\n  - { protocol: smtp, port: 25 }\nauth:\n  passdb: []\n  failure_delay: soon\nlogin_trusted_networks: [10.0.0.0/40]\nbogus: 1\n');
    const r = postern(['check', '--config', file]);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.includes(file), 'names the file');
    assert.match(r.stderr, /listen\[0\]\.port: .*65535/);
    assert.match(r.stderr, /listen\[1\]\.protocol: .*imap/);
    assert.match(r.stderr, /auth\.failure_delay: expected a duration/);
    assert.match(r.stderr, /auth\.passdb: /);
    assert.match(r.stderr, /unknown key "bogus"/);
    assert.match(r.stderr, /login_trusted_networks\[0\]: expected an address or network/);
  });

  test('YAML syntax errors and missing files are reported, not thrown', () => {
    const r = postern(['check', '--config', write('syntax.yaml', 'listen: [\n')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /YAML syntax/);
    const missing = postern(['check', '--config', join(tmp.path, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read the file/);
  });

  test('check warns about each SASL mechanism no passdb can verify, and still accepts the file', () => {
    write('crypt.passwd', 'alice:{SHA512-CRYPT}$6$salt$hash\n');
    const file = write('mechs.yaml', `limits: { max_connections: 100 }\nlisten:\n  - { protocol: imap, port: 1143, tls: none }\nauth:\n  mechanisms: [PLAIN, CRAM-MD5, XOAUTH2]\n  passdb:\n    - { driver: passwd-file, args: ${tmp.path}/crypt.passwd }\n`);
    const r = postern(['check', '-q', '--config', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    assert.deepEqual(r.stderr.trim().split('\n'), [
      '# warning: auth.mechanisms: CRAM-MD5 is not offered: no passdb stores plaintext or CRAM-MD5 passwords (they hold SHA512-CRYPT)',
      '# warning: auth.mechanisms: XOAUTH2 is not offered: tokens need an oauth2 passdb, or a passdb that forwards them (proxy=y proxy_mech=xoauth2)',
    ]);
  });

  test('check warns when the open-file limit cannot hold limits.max_connections proxied sessions', () => {
    const config = (max: number) => write(`fd-${max}.yaml`, `process: { workers: 1 }\nlimits: { max_connections: ${max} }\nlisten:\n  - { protocol: imap, port: 1143, tls: none }\nauth:\n  passdb:\n    - { driver: static, args: "nopassword=y proxy=y host=10.0.0.5" }\n`);
    const limited = (file: string) => spawnSync('prlimit', ['--nofile=512:512', '--', process.execPath, BIN, 'check', '-q', '--config', file], { encoding: 'utf8', timeout: 20_000 });
    const low = limited(config(1000));
    assert.equal(low.status, 0, low.stderr);
    assert.equal(low.stderr, '# warning: limits.max_connections is 1000, but with an open-file limit of 512, the process holds about 192 proxied sessions (two descriptors each): raise the limit to 2128 or more (systemd LimitNOFILE=, ulimit -n), or lower limits.max_connections\n');
    const fits = limited(config(150));
    assert.equal(fits.status, 0, fits.stderr);
    assert.equal(fits.stderr, '');
  });

  test('a certificate that cannot be read fails check with its path', () => {
    const file = write('tls.yaml', `tls: { cert: ${tmp.path}/none.pem, key: ${tmp.path}/none.key }\nlisten:\n  - { protocol: imap, port: 993, tls: implicit }\nauth:\n  passdb:\n    - { driver: static, args: "nopassword=y proxy=y host=10.0.0.5" }\n`);
    const r = postern(['check', '--config', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot read certificate .*none\.pem/);
  });

  test('check resolves proxy.source_ips as serve does: an address this machine cannot bind fails, a ? one is skipped', () => {
    const base = 'listen:\n  - { protocol: imap, port: 143, tls: none }\nauth:\n  passdb:\n    - { driver: static, args: "nopassword=y proxy=y host=10.0.0.5" }\n';
    const bad = postern(['check', '-q', '--config', write('srcip.yaml', `${base}proxy:\n  source_ips: [192.0.2.77]\n`)]);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /proxy\.source_ips: .*192\.0\.2\.77.*\[POSTERN_SOURCE_IP\]/);
    const optional = postern(['check', '-q', '--config', write('srcip-opt.yaml', `${base}proxy:\n  source_ips: ["?192.0.2.77", 127.0.0.1]\n`)]);
    assert.equal(optional.code, 0, optional.stderr);
  });

  test('check builds what serve builds: TLS-less TLS listeners, unreadable CA files and bad passdb settings fail', () => {
    const noTls = postern(['check', '--config', write('notls.yaml', 'listen:\n  - { protocol: imap, port: 993, tls: implicit }\nauth:\n  passdb:\n    - { driver: static, args: "nopassword=y proxy=y host=10.0.0.5" }\n')]);
    assert.equal(noTls.code, 1);
    assert.match(noTls.stderr, /no tls section \[POSTERN_TLS_REQUIRED\]/);
    const ca = postern(['check', '--config', write('ca.yaml', `listen:\n  - { protocol: imap, port: 143, tls: none }\nauth:\n  passdb:\n    - { driver: static, args: "nopassword=y proxy=y host=10.0.0.5" }\nproxy:\n  ca_file: ${tmp.path}/missing-ca.pem\n`)]);
    assert.equal(ca.code, 1);
    assert.match(ca.stderr, /cannot read proxy\.ca_file/);
    const pdb = postern(['check', '--config', write('pdb.yaml', 'listen:\n  - { protocol: imap, port: 143, tls: none }\nauth:\n  passdb:\n    - { driver: passwd-file, args: "scheme=NO-SUCH-SCHEME users" }\n')]);
    assert.equal(pdb.code, 1);
    assert.match(pdb.stderr, /NO-SUCH-SCHEME/);
    const id = postern(['check', '--config', write('id.yaml', 'listen:\n  - { protocol: imap, port: 143, tls: none }\nauth:\n  passdb:\n    - { driver: static, args: "nopassword=y proxy=y host=10.0.0.5" }\nimap:\n  id_send: { name: "two\\r\\nlines" }\n')]);
    assert.equal(id.code, 2);
    assert.match(id.stderr, /imap\.id_send\.name: expected printable ASCII/);
  });

  const PW_SCHEMES = ['PLAIN', 'CLEARTEXT', 'PLAIN-MD5', 'LDAP-MD5', 'MD5-CRYPT', 'SHA', 'SSHA', 'SHA256', 'SSHA256', 'SHA512', 'SSHA512',
    'SHA256-CRYPT', 'SHA512-CRYPT', 'BLF-CRYPT', 'CRYPT', 'DES-CRYPT', 'ARGON2I', 'ARGON2ID', 'PBKDF2', 'CRAM-MD5', 'SCRAM-SHA-1', 'SCRAM-SHA-256'];

  test('pw hashes like doveadm pw, and doveadm verifies the result', { skip: findBinary('doveadm') ? false : 'doveadm not installed' }, async () => {
    // One of each family through the CLI; src/auth/schemes/doveadm.test.ts round-trips every scheme in-process.
    const runs: string[][] = [
      ...['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT', 'PLAIN-MD5', 'MD5-CRYPT', 'DES-CRYPT', 'ARGON2ID', 'CRAM-MD5', 'SCRAM-SHA-256'].map((s) => ['-s', s]),
      ['-s', 'sha256.hex'], ['-s', 'SSHA512.b64'], ['-s', 'PBKDF2', '-r', '20000'], ['-s', 'SHA512-CRYPT', '-r', '10000'],
    ];
    // One process per scheme is slow in series; the runs are independent.
    const runAsync = (file: string, args: string[]) =>
      new Promise<{ code: number; stdout: string; stderr: string }>((done) => {
        execFile(file, args, { encoding: 'utf8', timeout: 20_000 }, (err, stdout, stderr) => done({ code: err ? Number(err.code ?? 1) || 1 : 0, stdout, stderr }));
      });
    await Promise.all(runs.map(async (args) => {
      const r = await runAsync(process.execPath, [BIN, 'pw', ...args, '-p', 'correct horse', '-u', 'alice@example.com']);
      assert.equal(r.code, 0, r.stderr);
      const hash = r.stdout.trim();
      assert.ok(hash.startsWith(`{${args[1]!.toUpperCase()}}`), hash);
      const ok = await runAsync('doveadm', ['pw', '-t', hash, '-p', 'correct horse']);
      assert.equal(ok.code, 0, `${args.join(' ')}: ${ok.stderr}`);
      const bad = await runAsync('doveadm', ['pw', '-t', hash, '-p', 'Correct horse']);
      assert.notEqual(bad.code, 0, `${args.join(' ')} must not verify a wrong password`);
    }));
  });

  test('pw -l lists every scheme', () => {
    const r = postern(['pw', '-l']);
    assert.equal(r.code, 0, r.stderr);
    const listed = r.stdout.trim().split(' ');
    for (const scheme of PW_SCHEMES) assert.ok(listed.includes(scheme), scheme);
  });

  test('pw -r: Dovecot\'s rounds in the hash; refused beyond what postern would verify', () => {
    const pbkdf2 = postern(['pw', '-s', 'PBKDF2', '-r', '7000', '-p', 'x']);
    assert.equal(pbkdf2.code, 0, pbkdf2.stderr);
    assert.match(pbkdf2.stdout, /^\{PBKDF2\}\$1\$[^$]{16}\$7000\$[0-9a-f]{40}\n$/);
    const argon = postern(['pw', '-s', 'ARGON2ID', '-r', '4', '-p', 'x']);
    assert.equal(argon.code, 1);
    assert.match(argon.stderr, /argon2 memory 1048576 KiB above the limit .*\[AUTH_SCHEME_DATA\]/);
    const junk = postern(['pw', '-s', 'PBKDF2', '-r', 'many', '-p', 'x']);
    assert.notEqual(junk.code, 0);
    assert.match(junk.stderr, /--rounds/);
  });

  test('pw -t checks a password against a hash, as doveadm pw -t', () => {
    // `doveadm pw -s SSHA256 -p 'Sécret p@ss'`
    const hash = '{SSHA256}K/TakJA39LtuzBW0CtIDg+HXNGjy0VisqR/3v4vRyQFA7lRU';
    const ok = postern(['pw', '-t', hash, '-p', 'Sécret p@ss']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout, `${hash} (verified)\n`);
    const bad = postern(['pw', '-t', hash, '-p', 'secret']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /verification check failed: password mismatch/);
    const broken = postern(['pw', '-t', '{SSHA256}!!', '-p', 'secret']);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /invalid SSHA256 password data/);
    const bare = postern(['pw', '-t', 'K/TakJA39LtuzBW0', '-p', 'secret']);
    assert.equal(bare.code, 1);
    assert.match(bare.stderr, /missing \{scheme\} prefix/);
  });

  test('pw --reverse-verify checks the new hash before printing it', () => {
    const r = postern(['pw', '-s', 'SCRAM-SHA-256', '-p', 'x', '--reverse-verify']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^\{SCRAM-SHA-256\}4096,\S+ \(verified\)\n$/);
  });

  test('pw with an unknown scheme fails with its code', () => {
    const r = postern(['pw', '-s', 'ROT13', '-p', 'x']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /unknown password scheme ROT13 \[AUTH_UNKNOWN_SCHEME\]/);
  });

  test('pw reads the password from standard input', () => {
    const r = postern(['pw', '-s', 'PLAIN'], 'from-stdin\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '{PLAIN}from-stdin');
  });
});
