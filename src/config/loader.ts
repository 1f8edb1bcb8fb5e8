import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parseDocument } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from './errors.js';
import { configSchema, type Config } from './schema.js';

export interface LoadedConfig {
  file: string;
  /** Folder of the config file: relative paths in it are read from here. */
  baseDir: string;
  config: Config;
}

function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const key of path) {
    if (typeof key === 'number') out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out;
}

function describeIssue(issue: z.core.$ZodIssue): string {
  if (issue.code === 'unrecognized_keys') return `unknown key${issue.keys.length > 1 ? 's' : ''} ${issue.keys.map((k) => JSON.stringify(k)).join(', ')}`;
  if (issue.code === 'invalid_type' && issue.input === undefined) return `is required (expected ${issue.expected})`;
  return issue.message;
}

/** Validates an already-parsed document; throws ConfigError listing every problem. */
export function validateConfig(raw: unknown, file: string): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const problems: ConfigProblem[] = result.error.issues.map((issue) => ({ path: formatPath(issue.path), message: describeIssue(issue) }));
  throw new ConfigError(file, problems);
}

export function parseConfigText(text: string, file: string): Config {
  const doc = parseDocument(text, { prettyErrors: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(file, doc.errors.map((e) => ({ path: '', message: `YAML syntax: ${e.message}` })));
  }
  return validateConfig(doc.toJS(), file);
}

export function loadConfig(file: string): LoadedConfig {
  const abs = resolve(file);
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(abs, [{ path: '', message: `cannot read the file: ${(err as Error).message}` }]);
  }
  return { file: abs, baseDir: dirname(abs), config: parseConfigText(text, abs) };
}

/** Resolves a path from the config against the config file's folder. */
export function configPath(loaded: Pick<LoadedConfig, 'baseDir'>, p: string): string {
  return isAbsolute(p) ? p : resolve(loaded.baseDir, p);
}
