// Property tests: what the serializer writes, the command reader reads back; no input,
// however cut, makes the reader throw or hold more than its limits.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { ImapCommandReader, type ReadResult } from './command-reader.js';
import { assertSameAtEverySplit, collect } from '../../../test/support/feed-harness.js';
import { ARG_ATOM_CHAR, TAG_CHAR } from './grammar.js';
import type { ImapWireLimits } from './limits.js';
import { formatCommand, formatCommandParts, type WireArg } from './serialize.js';
import type { ImapValue } from './values.js';

const charsOf = (cls: Uint8Array): string[] => [...cls.keys()].filter((i) => cls[i] === 1).map((i) => String.fromCharCode(i));
const tagArb = fc.string({ unit: fc.constantFrom(...charsOf(TAG_CHAR)), minLength: 1, maxLength: 12 });
const nameArb = fc.string({ unit: fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcxyz0189-'), minLength: 1, maxLength: 12 });
const atomArb = fc
  .string({ unit: fc.constantFrom(...charsOf(ARG_ATOM_CHAR)), minLength: 1, maxLength: 16 })
  .filter((s) => s.toUpperCase() !== 'NIL');
const noNul = (u: Uint8Array): Buffer => Buffer.from(u.map((x) => (x === 0 ? 1 : x)));
/** Biased towards the bytes that make quoting and literals interesting. */
const bytesArb = fc.oneof(
  fc.uint8Array({ maxLength: 40 }).map(noNul),
  fc.array(fc.constantFrom(0x22, 0x5c, 0x0d, 0x0a, 0x20, 0x28, 0x29, 0x7b, 0x7d, 0x2b, 0x61, 0xc3, 0xa4), { maxLength: 20 }).map((a) => Buffer.from(a)),
  fc.string({ maxLength: 20 }).map((s) => Buffer.from(s.replaceAll('\0', '_'), 'utf8')),
);
const leafArb: fc.Arbitrary<WireArg> = fc.oneof(
  atomArb.map((value): WireArg => ({ kind: 'atom', value })),
  bytesArb.map((value): WireArg => ({ kind: 'astring', value })),
  bytesArb.map((value): WireArg => ({ kind: 'string', value })),
  fc.constant<WireArg>({ kind: 'nil' }),
);
function argArb(depth: number): fc.Arbitrary<WireArg> {
  if (depth === 0) return leafArb;
  return fc.oneof(leafArb, fc.array(argArb(depth - 1), { maxLength: 3 }).map((items): WireArg => ({ kind: 'list', items })));
}
const argsArb = fc.array(argArb(2), { maxLength: 5 });

/** Values compared by their bytes: how the serializer chose to write them doesn't matter. */
type Norm = string | null | Norm[];
function normArg(a: WireArg): Norm {
  switch (a.kind) {
    case 'atom': return Buffer.from(a.value, 'latin1').toString('hex');
    case 'astring':
    case 'string': return Buffer.from(a.value).toString('hex');
    case 'nil': return null;
    case 'list': return a.items.map(normArg);
  }
}
function normValue(v: ImapValue): Norm {
  switch (v.type) {
    case 'atom': return Buffer.from(v.value, 'latin1').toString('hex');
    case 'string': return v.value.toString('hex');
    case 'nil': return null;
    case 'list': return v.items.map(normValue);
  }
}

function expectCommand(results: ReadResult[], tag: string, name: string, args: WireArg[]): void {
  const last = results.at(-1);
  assert.ok(last?.kind === 'command', `expected a command, got ${JSON.stringify(last)}`);
  assert.equal(last.command.tag, tag);
  assert.equal(last.command.name, name.toUpperCase());
  assert.deepStrictEqual(last.command.args.map(normValue), args.map(normArg));
}

describe('serializer → command reader', () => {
  it('reads back what formatCommand writes with LITERAL+, however the bytes are cut', () => {
    fc.assert(
      fc.property(tagArb, nameArb, argsArb, (tag, name, args) => {
        const bytes = Buffer.from(formatCommand(tag, name, args, { literalPlus: true }));
        const results = assertSameAtEverySplit(() => new ImapCommandReader(), bytes, { maxPoints: 64 });
        assert.equal(results.length, 1);
        expectCommand(results, tag, name, args);
      }),
      { numRuns: 300 },
    );
  });

  it('asks for "+" once per synchronizing literal, then reads the command back', () => {
    fc.assert(
      fc.property(tagArb, nameArb, argsArb, (tag, name, args) => {
        const parts = formatCommandParts(tag, name, args, { literalPlus: false });
        const r = new ImapCommandReader();
        const results: ReadResult[] = [];
        parts.forEach((part, i) => {
          const got = collect(r, [Buffer.from(part)]);
          results.push(...got);
          // after each part but the last, the reader waits for the client, which waits for "+"
          if (i < parts.length - 1) assert.deepStrictEqual(got, [{ kind: 'continue' }]);
        });
        assert.equal(results.length, parts.length);
        expectCommand(results, tag, name, args);
      }),
      { numRuns: 300 },
    );
  });

  it('reads a pipelined run of commands', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(tagArb, nameArb, argsArb), { minLength: 1, maxLength: 5 }), (cmds) => {
        const bytes = Buffer.concat(cmds.map(([t, n, a]) => Buffer.from(formatCommand(t, n, a))));
        const results = assertSameAtEverySplit(() => new ImapCommandReader(), bytes, { maxPoints: 32 });
        assert.equal(results.length, cmds.length);
        cmds.forEach(([t, n, a], i) => expectCommand([results[i]!], t, n, a));
      }),
      { numRuns: 100 },
    );
  });
});

describe('command reader on arbitrary input', () => {
  const small: Partial<ImapWireLimits> = { maxLineBytes: 64, maxLiteralBytes: 16, maxArgs: 6, maxListDepth: 2, maxTagBytes: 8 };
  const tokens = ['a', 'b1', ' ', ' ', '\r\n', '\n', '\r', '{5}', '{3+}', '{0+}', '{17+}', '{99}', '{x}', '(', ')', '"', '\\', 'LOGIN', 'NIL', '\0', '~{2}', 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx', '\xe4', '*', '+'];
  const imapish = fc.array(fc.constantFrom(...tokens), { maxLength: 60 }).map((t) => Buffer.from(t.join(''), 'latin1'));
  const inputArb = fc.oneof(imapish, fc.uint8Array({ maxLength: 200 }).map((u) => Buffer.from(u)));

  for (const [title, limits, held] of [['small limits', small, 64], ['default limits', undefined, 64 * 1024]] as const) {
    it(`never throws, resynchronises the same way wherever cut, and holds at most maxLineBytes (${title})`, () => {
      fc.assert(
        fc.property(inputArb, (input) => {
          const results = assertSameAtEverySplit(() => new ImapCommandReader(limits), input, { maxHeld: held });
          for (const r of results) if (r.kind === 'error' && r.tag !== undefined) assert.ok(r.tag.length > 0);
        }),
        { numRuns: 400 },
      );
    });
  }

  it('nextLine interleaved with next never throws', () => {
    fc.assert(
      fc.property(inputArb, fc.array(fc.boolean(), { minLength: 1, maxLength: 20 }), (input, plan) => {
        const r = new ImapCommandReader(small);
        r.feed(input);
        for (const raw of plan) {
          const got = raw ? r.nextLine() : r.next();
          if (got === 'needMore' || (!Buffer.isBuffer(got) && got.kind === 'needMore')) break;
        }
        assert.ok(r.bufferedBytes <= input.length);
      }),
    );
  });
});
