// The postern command as an operator runs it: help, check, pw.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
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
    const file = write('bad.yaml', 'listen:\n  - { protocol: imap, port: 99999 }\n  - { protocol: smtp, port: 25 }\nauth:\n  passdb: []\n  failure_delay: soon\nbogus: 1\n');
    const r = postern(['check', '--config', file]);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.includes(file), 'names the file');
    assert.match(r.stderr, /listen\[0\]\.port: .*65535/);
    assert.match(r.stderr, /listen\[1\]\.protocol: .*imap/);
    assert.match(r.stderr, /auth\.failure_delay: expected a duration/);
    assert.match(r.stderr, /auth\.passdb: /);
    assert.match(r.stderr, /unknown key "bogus"/);
  });

  test('YAML syntax errors and missing files are reported, not thrown', () => {
    const r = postern(['check', '--config', write('syntax.yaml', 'listen: [\n')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /YAML syntax/);
    const missing = postern(['check', '--config', join(tmp.path, 'nope.yaml')]);
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /cannot read the file/);
  });

  test('a certificate that cannot be read fails check with its path', () => {
    const file = write('tls.yaml', `tls: { cert: ${tmp.path}/none.pem, key: ${tmp.path}/none.key }\nlisten:\n  - { protocol: imap, port: 993, tls: implicit }\nauth:\n  passdb:\n    - { driver: static, args: "nopassword=y proxy=y host=10.0.0.5" }\n`);
    const r = postern(['check', '--config', file]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cannot read certificate .*none\.pem/);
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

  test('pw hashes like doveadm pw, and doveadm verifies the result', { skip: findBinary('doveadm') ? false : 'doveadm not installed' }, () => {
    for (const scheme of ['SHA512-CRYPT', 'SHA256-CRYPT', 'BLF-CRYPT', 'PLAIN-MD5']) {
      const r = postern(['pw', '-s', scheme, '-p', 'correct horse']);
      assert.equal(r.code, 0, r.stderr);
      const hash = r.stdout.trim();
      assert.ok(hash.startsWith(`{${scheme}}`), hash);
      const ok = spawnSync('doveadm', ['pw', '-t', hash, '-p', 'correct horse'], { encoding: 'utf8' });
      assert.equal(ok.status, 0, `${scheme}: ${ok.stderr}`);
      const bad = spawnSync('doveadm', ['pw', '-t', hash, '-p', 'wrong'], { encoding: 'utf8' });
      assert.notEqual(bad.status, 0, `${scheme} must not verify a wrong password`);
    }
  });

  test('pw reads the password from standard input', () => {
    const r = postern(['pw', '-s', 'PLAIN'], 'from-stdin\n');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '{PLAIN}from-stdin');
  });
});
