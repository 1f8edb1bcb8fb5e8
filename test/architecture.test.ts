// The module boundaries of shared/DESIGN.md, checked on every test run.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

const SRC = resolve('src');

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

interface Edge {
  from: string; // path relative to src, with /
  to: string; // resolved target relative to src, or a bare specifier
}

function edges(): Edge[] {
  const out: Edge[] = [];
  for (const file of sources(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/^\s*(?:import|export)\s[^'";]*?from\s+'([^']+)'/gm)) {
      const spec = m[1]!;
      const to = spec.startsWith('.') ? relative(SRC, resolve(dirname(file), spec)).split(sep).join('/').replace(/\.js$/, '.ts') : spec;
      out.push({ from: relative(SRC, file).split(sep).join('/'), to });
    }
  }
  return out;
}

const moduleOf = (p: string) => (p.includes('/') ? p.split('/')[0]! : '');

test('modules reach each other only through index.ts (or a submodule index, or the config schema section)', () => {
  const bad = edges().filter((e) => {
    if (!e.to.endsWith('.ts') || e.to.startsWith('..')) return false;
    const from = moduleOf(e.from);
    const to = moduleOf(e.to);
    if (to === '' || from === to) return false;
    // config/ composes the schema from each module's own section (one schema, owned in pieces).
    if (e.from === 'config/schema.ts' && /^[a-z0-9]+\/config\.ts$/.test(e.to)) return false;
    return !/\/index\.ts$/.test(e.to);
  });
  assert.deepEqual(bad.map((e) => `${e.from} -> ${e.to}`), []);
});

const FORBIDDEN: Record<string, RegExp> = {
  // auth knows nothing of protocols or of how sessions are proxied.
  auth: /^(imap|pop3|lmtp|proxy|net|login|admin|authserver|store|cli)\//,
  // the proxy moves bytes and decides routes; protocol logins are handed to it.
  proxy: /^(imap|pop3|lmtp|auth|login|cli)\//,
  net: /^(imap|pop3|lmtp|auth|login|proxy|cli)\//,
  config: /^(cli|login|server)/,
  login: /^(imap|pop3|lmtp|cli)\//,
  // the auth service adds framing to auth/ and its SASL; it neither proxies nor speaks IMAP/POP3.
  authserver: /^(imap|pop3|lmtp|proxy|admin|store|cli)\//,
};

test('dependencies point inward', () => {
  const bad = edges().filter((e) => {
    const rule = FORBIDDEN[moduleOf(e.from)];
    return rule !== undefined && rule.test(e.to);
  });
  assert.deepEqual(bad.map((e) => `${e.from} -> ${e.to}`), []);
});

test('codecs do no I/O: the IMAP, POP3 and auth-client codecs import no socket, file, timer or logger', () => {
  // each codec, and what besides itself and core/ it may import
  const codecs: Array<[string, string[]]> = [['imap/wire/', []], ['pop3/wire/', []], ['lmtp/wire/', []], ['authserver/codec.ts', ['authserver/limits.ts']]];
  for (const [codec, allowed] of codecs) {
    const bad = edges().filter((e) => e.from.startsWith(codec) && (/^node:(net|tls|fs|timers|dns|child_process)/.test(e.to) || (e.to.endsWith('.ts') && !e.to.startsWith(codec) && !e.to.startsWith('core/') && !allowed.includes(e.to))));
    assert.deepEqual(bad.map((e) => `${e.from} -> ${e.to}`), []);
  }
});

test('no source file grows past 450 lines', () => {
  const big = sources(SRC)
    .map((f) => ({ f: relative(SRC, f), n: readFileSync(f, 'utf8').split('\n').length }))
    .filter((x) => x.n > 450);
  assert.deepEqual(big, []);
});
