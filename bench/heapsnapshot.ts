// Reads V8 heap snapshots (node --heapsnapshot-signal) into self size and count per kind of object,
// and compares two: what N more sessions hold, per session.
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

export type HeapCensus = Map<string, { bytes: number; count: number }>;

/** Objects by constructor, closures by function name, strings and internal kinds by type. */
function kindOf(type: string, name: string): string {
  switch (type) {
    case 'object':
      return name;
    case 'closure':
      return `closure ${name || '(anonymous)'}`;
    case 'string':
    case 'concatenated string':
    case 'sliced string':
      return '(strings)';
    case 'number':
      return '(heap numbers)';
    case 'code':
      return '(compiled code)';
    case 'array':
      return `(array: ${name})`;
    case 'native':
      return `native ${name}`;
    case 'hidden':
    case 'object shape':
      return `(${type}: ${name.replace(/ \/ .*$/, '')})`;
    default:
      return `(${type})`;
  }
}

export function heapCensus(file: string): HeapCensus {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const census: HeapCensus = new Map();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const kind = kindOf(types[snap.nodes[i + iType]!] ?? '?', snap.strings[snap.nodes[i + iName]!] ?? '');
    const entry = census.get(kind) ?? { bytes: 0, count: 0 };
    entry.bytes += snap.nodes[i + iSize]!;
    entry.count += 1;
    census.set(kind, entry);
  }
  return census;
}

export interface HeapDiff {
  sessions: number;
  totalBefore: number;
  totalAfter: number;
  bytesPerSession: number;
  top: Array<{ kind: string; bytesPerSession: number; countPerSession: number }>;
}

export function diffCensus(before: HeapCensus, after: HeapCensus, sessions: number, topN = 20): HeapDiff {
  const total = (c: HeapCensus) => [...c.values()].reduce((s, e) => s + e.bytes, 0);
  const rows = [...after].map(([kind, a]) => {
    const b = before.get(kind) ?? { bytes: 0, count: 0 };
    return { kind, bytesPerSession: (a.bytes - b.bytes) / sessions, countPerSession: (a.count - b.count) / sessions };
  });
  const top = rows.sort((x, y) => y.bytesPerSession - x.bytesPerSession).slice(0, topN);
  const totalBefore = total(before);
  const totalAfter = total(after);
  return { sessions, totalBefore, totalAfter, bytesPerSession: (totalAfter - totalBefore) / sessions, top };
}
