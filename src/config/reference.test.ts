import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';
import { z } from 'zod';
import { renderConfigReference, yamlValue } from './reference.js';
import { configSchema } from './schema.js';
import { registerPassdbDrivers } from '../drivers.js';

// As `postern` and scripts/gen-config-doc.js do: the imap passdb is documented with the rest.
registerPassdbDrivers();

// Compiled to dist/src/config/: the repository root is three folders up.
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const read = (rel: string) => readFileSync(join(ROOT, rel), 'utf8');

type JsonSchema = { type?: string | string[]; properties?: Record<string, JsonSchema>; items?: JsonSchema };

/** Leaf key paths, found through zod's own JSON Schema export rather than the generator's walk. */
function leafPaths(s: JsonSchema, prefix: string, out: string[]): string[] {
  if (s.properties) {
    for (const [k, v] of Object.entries(s.properties)) leafPaths(v, prefix ? `${prefix}.${k}` : k, out);
  } else if (s.type === 'array' && s.items?.properties) {
    leafPaths(s.items, `${prefix}[]`, out);
  } else out.push(prefix);
  return out;
}

describe('docs/configuration.md', () => {
  it('is what the schema generates', () => {
    assert.ok(
      read('docs/configuration.md') === renderConfigReference(),
      'docs/configuration.md is out of date with the schema: run `npm run docs` and commit the result',
    );
  });

  it('documents every leaf key of the schema, with a description', () => {
    const doc = read('docs/configuration.md');
    const paths = leafPaths(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema, '', []);
    assert.ok(paths.length > 20, `found only ${paths.length} keys`);
    for (const p of paths) {
      const row = doc.split('\n').find((l) => l.startsWith(`| \`${p}\` |`));
      assert.ok(row, `key ${p} is missing from docs/configuration.md (run \`npm run docs\`)`);
      assert.doesNotMatch(row, /\|\s*\|$/, `key ${p} has no description: add .describe() to the schema`);
    }
  });

  const values: ReadonlyArray<[unknown, string]> = [
    ['30s', '30s'],
    ['3 min', '3 min'],
    ['', '""'],
    ['a: b', '"a: b"'],
    ['::', '"::"'],
    ['yes', '"yes"'],
    ['0.0.0.0', '0.0.0.0'],
    ['12', '"12"'],
    [['PLAIN', 'LOGIN'], '[PLAIN, LOGIN]'],
    [[], '[]'],
    [{}, '{}'],
    [{ name: 'postern' }, '{ name: postern }'],
    [true, 'true'],
    [7, '7'],
  ];
  for (const [v, text] of values) it(`writes the default ${JSON.stringify(v)} as ${text}`, () => assert.equal(yamlValue(v), text));
});

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p);
  }
  return out;
}

describe('docs/errors.md', () => {
  const doc = read('docs/errors.md');
  const inCode = new Set<string>();
  for (const file of sources(join(ROOT, 'src'))) {
    for (const m of readFileSync(file, 'utf8').matchAll(/'((?:POSTERN|AUTH|IMAP_WIRE)_[A-Z_]+)'/g)) inCode.add(m[1]!);
  }
  // The native relay throws its code from C.
  for (const name of readdirSync(join(ROOT, 'native')).filter((n) => n.endsWith('.c'))) {
    for (const m of readFileSync(join(ROOT, 'native', name), 'utf8').matchAll(/"(POSTERN_[A-Z_]+)"/g)) inCode.add(m[1]!);
  }

  it('lists every error code the source throws', () => {
    assert.ok(inCode.size >= 10, `found only ${inCode.size} codes in src/`);
    const missing = [...inCode].filter((c) => !doc.includes(`\`${c}\``));
    assert.deepEqual(missing, [], `codes missing from docs/errors.md: ${missing.join(', ')}`);
  });

  it('lists no code the source no longer has', () => {
    const headed = [...doc.matchAll(/^### `((?:POSTERN|AUTH|IMAP_WIRE)_[A-Z_]+)`/gm)].map((m) => m[1]!);
    const stale = headed.filter((c) => !inCode.has(c));
    assert.deepEqual(stale, [], `docs/errors.md documents codes not found in src/: ${stale.join(', ')}`);
  });
});
