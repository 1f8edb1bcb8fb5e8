import { z } from 'zod';
import { configSchema } from './schema.js';
import { getPassdbDriver, listPassdbDrivers, listSchemes } from '../auth/index.js';
import { duration, size } from '../core/index.js';

/*
 * Renders docs/configuration.md from the one schema (STYLE practice 11). Pure: no file
 * access; scripts/gen-config-doc.js writes the result and reference.test.ts compares it.
 */

/** One documented key. `path` is dotted, with `[]` for the items of a list: `auth.passdb[].driver`. */
export interface ReferenceRow {
  path: string;
  type: string;
  /** The default as it would be written in YAML; undefined when there is none. */
  default?: string;
  required: boolean;
  description: string;
}

export interface ReferenceTable {
  /** `imap`, or `auth.passdb[]` for the items of a list of objects. */
  path: string;
  description: string;
  /** Whether the section (or list) may be left out, and what then applies. */
  presence: string;
  rows: ReferenceRow[];
}

interface Unwrapped {
  schema: z.ZodType;
  description: string;
  default?: unknown;
  hasDefault: boolean;
  optional: boolean;
}

/** Peels `.default()`, `.prefault()`, `.optional()` and an object's own `.transform()`; the outermost description and default win. */
function unwrap(schema: z.ZodType): Unwrapped {
  let s = schema;
  let description = s.description;
  let dflt: unknown;
  let hasDefault = false;
  let optional = false;
  for (;;) {
    if (s instanceof z.ZodDefault || s instanceof z.ZodPrefault) {
      if (!hasDefault) {
        dflt = s.def.defaultValue;
        hasDefault = true;
      }
      s = s.def.innerType as z.ZodType;
    } else if (s instanceof z.ZodOptional) {
      optional = true;
      s = s.def.innerType as z.ZodType;
    } else if (s instanceof z.ZodPipe && s.def.in instanceof z.ZodObject && s.def.out instanceof z.ZodTransform) {
      s = s.def.in as z.ZodType; // an object that fills defaults from its siblings (listen[].tls): document its keys
    } else break;
    description ??= s.description;
  }
  return { schema: s, description: description ?? '', ...(hasDefault ? { default: dflt } : {}), hasDefault, optional };
}

function minLength(schema: z.ZodArray<z.ZodType>): number | undefined {
  for (const check of schema.def.checks ?? []) {
    const def = check._zod.def as { check: string; minimum?: number };
    if (def.check === 'min_length') return def.minimum;
  }
  return undefined;
}

function code(text: string): string {
  return `\`${text}\``;
}

function numberType(s: z.ZodNumber): string {
  const name = s.isInt ? 'integer' : 'number';
  const min = s.minValue !== null && s.minValue > Number.MIN_SAFE_INTEGER ? s.minValue : undefined;
  const max = s.maxValue !== null && s.maxValue < Number.MAX_SAFE_INTEGER ? s.maxValue : undefined;
  if (min !== undefined && max !== undefined) return `${name} ${min}–${max}`;
  if (min !== undefined) return `${name} ≥ ${min}`;
  if (max !== undefined) return `${name} ≤ ${max}`;
  return name;
}

function plural(type: string): string {
  return /^(string|integer|number|boolean|duration|size)$/.test(type) ? `${type}s` : type;
}

/** The type as an operator writes it in YAML (the input side of any transform). */
function typeName(schema: z.ZodType): string {
  const s = unwrap(schema).schema;
  if (s === duration) return 'duration';
  if (s === size) return 'size';
  if (s instanceof z.ZodString) return 'string';
  if (s instanceof z.ZodNumber) return numberType(s);
  if (s instanceof z.ZodBoolean) return 'boolean';
  if (s instanceof z.ZodEnum) {
    const opts = (s.options as Array<string | number>).map((o) => code(String(o)));
    return opts.length === 1 ? opts[0]! : `one of ${opts.join(', ')}`;
  }
  if (s instanceof z.ZodArray) {
    const item = unwrap(s.element as z.ZodType).schema;
    const min = minLength(s as z.ZodArray<z.ZodType>);
    const what = item instanceof z.ZodObject ? 'list of objects' : item instanceof z.ZodEnum ? `list of values from ${typeName(item).replace(/^one of /, '')}` : `list of ${plural(typeName(item))}`;
    return min !== undefined && min > 0 ? `${what}, at least ${min}` : what;
  }
  if (s instanceof z.ZodLiteral) return (s.def.values as unknown[]).map((v) => code(String(v))).join(', or ');
  if (s instanceof z.ZodRecord) return `map of ${typeName(s.def.keyType as z.ZodType)} to ${typeName(s.def.valueType as z.ZodType)}`;
  if (s instanceof z.ZodPipe) return typeName(s.def.in as z.ZodType);
  if (s instanceof z.ZodUnion) return (s.def.options as z.ZodType[]).map(typeName).join(', or ');
  if (s instanceof z.ZodObject) return 'object';
  throw new Error(`config reference: no rendering for zod type ${s.type}`);
}

/** A string YAML reads back as the same string without quotes (no `:`, `#`, `,`, brackets; not a bool, null or number). */
function plainYaml(v: string): boolean {
  return /^[A-Za-z0-9_./@*+-](?:[A-Za-z0-9_ ./@*+-]*[A-Za-z0-9_./@*+-])?$/.test(v) && !/^(true|false|yes|no|y|n|on|off|null)$/i.test(v) && !/^[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?$/i.test(v);
}

/** A value in YAML flow style, as it would be written in the file. */
export function yamlValue(v: unknown): string {
  if (typeof v === 'string') return plainYaml(v) ? v : JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (v === null) return 'null';
  if (Array.isArray(v)) return `[${v.map(yamlValue).join(', ')}]`;
  if (typeof v === 'object') {
    const entries = Object.entries(v as Record<string, unknown>);
    return entries.length === 0 ? '{}' : `{ ${entries.map(([k, x]) => `${k}: ${yamlValue(x)}`).join(', ')} }`;
  }
  throw new Error(`config reference: cannot render default ${String(v)}`);
}

function objectShape(s: z.ZodType): Record<string, z.ZodType> | undefined {
  return s instanceof z.ZodObject ? (s.shape as Record<string, z.ZodType>) : undefined;
}

function listItemShape(s: z.ZodType): { shape: Record<string, z.ZodType>; description: string } | undefined {
  if (!(s instanceof z.ZodArray)) return undefined;
  const item = unwrap(s.element as z.ZodType);
  const shape = objectShape(item.schema);
  return shape ? { shape, description: item.description } : undefined;
}

function presence(f: Unwrapped, isList: boolean): string {
  const min = isList && f.schema instanceof z.ZodArray ? minLength(f.schema as z.ZodArray<z.ZodType>) : undefined;
  if (!f.hasDefault && !f.optional && min !== undefined && min > 0) return `Required, at least ${min}.`;
  if (f.hasDefault) {
    const empty = f.default !== null && typeof f.default === 'object' && Object.keys(f.default).length === 0; // [] or {}
    if (isList) return empty ? 'Optional; none by default.' : `Optional; default ${code(yamlValue(f.default))}.`;
    return empty ? 'Optional; the defaults below apply when it is left out.' : `Optional; default ${code(yamlValue(f.default))}.`;
  }
  if (f.optional) return 'Optional.';
  return 'Required.';
}

function rowFor(path: string, f: Unwrapped): ReferenceRow {
  return { path, type: typeName(f.schema), ...(f.hasDefault ? { default: yamlValue(f.default) } : {}), required: !f.hasDefault && !f.optional, description: f.description };
}

/** Rows for the keys of one object (nested objects flattened); lists of objects add tables to `subtables`. */
function collect(prefix: string, shape: Record<string, z.ZodType>, rows: ReferenceRow[], subtables: ReferenceTable[]): void {
  for (const [key, field] of Object.entries(shape)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const f = unwrap(field);
    const nested = objectShape(f.schema);
    if (nested) {
      collect(path, nested, rows, subtables);
      continue;
    }
    rows.push(rowFor(path, f));
    const items = listItemShape(f.schema);
    if (items) subtables.push(...itemTables(path, f, items));
  }
}

/** The table of a list's item fields, followed by the tables of lists inside the items. */
function itemTables(path: string, f: Unwrapped, items: { shape: Record<string, z.ZodType>; description: string }): ReferenceTable[] {
  const rows: ReferenceRow[] = [];
  const nested: ReferenceTable[] = [];
  collect(`${path}[]`, items.shape, rows, nested);
  return [{ path: `${path}[]`, description: items.description || f.description, presence: presence(f, true), rows }, ...nested];
}

/** The tables of one top-level key: its own, then one per list of objects inside it. */
export function sectionTables(key: string, field: z.ZodType): ReferenceTable[] {
  const f = unwrap(field);
  const shape = objectShape(f.schema);
  if (shape) {
    const rows: ReferenceRow[] = [];
    const subtables: ReferenceTable[] = [];
    collect(key, shape, rows, subtables);
    return [{ path: key, description: f.description, presence: presence(f, false), rows }, ...subtables];
  }
  const items = listItemShape(f.schema);
  if (items) return itemTables(key, f, items);
  return [{ path: key, description: '', presence: '', rows: [rowFor(key, f)] }];
}

function cell(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function renderTable(t: ReferenceTable): string {
  const lines = ['| Key | Type | Default | Description |', '| --- | --- | --- | --- |'];
  for (const r of t.rows) {
    const dflt = r.default !== undefined ? code(r.default) : r.required ? '**required**' : 'unset';
    lines.push(`| ${code(r.path)} | ${cell(r.type)} | ${cell(dflt)} | ${cell(r.description)} |`);
  }
  return lines.join('\n');
}

/** What the schema cannot say about a table: the registries behind a string key. */
function tableNotes(path: string): string | undefined {
  if (path !== 'auth.passdb[]') return undefined;
  const drivers = listPassdbDrivers().map((name) => `- ${code(name)}: ${getPassdbDriver(name)?.description ?? ''}`);
  return [
    `Drivers:\n\n${drivers.join('\n')}\n`,
    `Password schemes (a \`{SCHEME}\` prefix on a stored password, or passwd-file \`scheme=\`): ${listSchemes().map(code).join(', ')}. \`postern pw\` makes hashes.\n`,
  ].join('\n');
}

const INTRO = `# Configuration reference

<!-- Generated from src/config/schema.ts by \`npm run docs\`. Do not edit by hand: src/config/reference.test.ts fails when this file and the schema disagree. -->

postern reads one YAML file: \`postern serve --config FILE\`. An unknown key is an error, and every error names the file, the key path and what was expected. \`postern check --config FILE\` validates a file (schema and certificate files) and prints it with every default filled in and secrets masked.

Value syntax:

- **duration**: a number of seconds, or a number and a unit: \`500ms\`, \`30s\`, \`2 min\`, \`1h\`, \`1d\`. Units: \`ms\`, \`s\`/\`sec\`/\`secs\`/\`seconds\`, \`m\`/\`min\`/\`mins\`/\`minutes\`, \`h\`/\`hour\`/\`hours\`, \`d\`/\`day\`/\`days\`.
- **size**: a number of bytes, or a number and a unit in powers of 1024: \`64k\`, \`10M\`, \`1G\` (\`b\`, \`k\`/\`kb\`, \`m\`/\`mb\`, \`g\`/\`gb\`; any case).
- Relative file paths (certificates, \`proxy.ca_file\`, passwd-file paths) are read from the folder of the configuration file.

Key paths below are dotted; \`[]\` stands for each item of a list, so \`auth.passdb[].driver\` is the \`driver\` key of every entry under \`auth: passdb:\`.
`;

/** The whole of docs/configuration.md. */
export function renderConfigReference(schema: z.ZodObject = configSchema): string {
  const parts = [INTRO];
  const keys = Object.keys(schema.shape);
  parts.push(`Top-level keys: ${keys.map(code).join(', ')}.\n`);
  for (const [key, field] of Object.entries(schema.shape as Record<string, z.ZodType>)) {
    const [own, ...subtables] = sectionTables(key, field);
    parts.push(`## ${code(key)}\n`);
    const intro = [own!.description, own!.presence].filter((x) => x !== '').join(' ');
    if (intro) parts.push(`${intro}${own!.path.endsWith('[]') ? ' Each item:' : ''}\n`);
    parts.push(`${renderTable(own!)}\n`);
    for (const t of subtables) {
      parts.push(`### ${code(t.path)}\n`);
      parts.push(`${[t.description, t.presence].filter((x) => x !== '').join(' ')} Each item:\n`);
      parts.push(`${renderTable(t)}\n`);
      const notes = tableNotes(t.path);
      if (notes) parts.push(notes);
    }
  }
  return parts.join('\n');
}
