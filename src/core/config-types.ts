import { z } from 'zod';

const UNIT_MS: Record<string, number> = {
  ms: 1, msec: 1, msecs: 1, millisecond: 1, milliseconds: 1,
  s: 1000, sec: 1000, secs: 1000, second: 1000, seconds: 1000,
  m: 60_000, min: 60_000, mins: 60_000, minute: 60_000, minutes: 60_000,
  h: 3_600_000, hour: 3_600_000, hours: 3_600_000,
  d: 86_400_000, day: 86_400_000, days: 86_400_000,
};

/** Parses Dovecot-style durations: `30s`, `2 secs`, `500ms`, `1 min`; a bare number is seconds. */
export function parseDurationMs(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isFinite(input) && input >= 0 ? input * 1000 : undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(input);
  if (!m) return undefined;
  const unit = (m[2] ?? '').toLowerCase() || 's';
  const factor = UNIT_MS[unit];
  return factor === undefined ? undefined : Math.round(Number(m[1]) * factor);
}

/** A duration in the config, read into milliseconds. */
export const duration = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const ms = parseDurationMs(v);
  if (ms === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a duration such as "30s", "500ms" or "2 min", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return ms;
});

const SIZE_UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

export function parseSizeBytes(input: string | number): number | undefined {
  if (typeof input === 'number') return Number.isInteger(input) && input >= 0 ? input : undefined;
  const m = /^\s*(\d+)\s*([a-z]*)\s*$/i.exec(input);
  if (!m) return undefined;
  const factor = SIZE_UNITS[(m[2] ?? '').toLowerCase()];
  return factor === undefined ? undefined : Number(m[1]) * factor;
}

/** A size in the config, read into bytes: `64k`, `10 MB`, or a bare number of bytes. */
export const size = z.union([z.number(), z.string()]).transform((v, ctx) => {
  const n = parseSizeBytes(v);
  if (n === undefined) {
    ctx.addIssue({ code: 'custom', message: `expected a size such as "64k" or "10M", got ${JSON.stringify(v)}` });
    return z.NEVER;
  }
  return n;
});
