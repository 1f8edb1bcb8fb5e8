import { open, stat } from 'node:fs/promises';
import { isAbsolute, resolve } from 'node:path';
import { silentLogger, type AuthLogger } from '../deps.js';
import { AuthError } from '../errors.js';
import { setField } from '../fields.js';
import { getScheme, withDefaultScheme } from '../schemes/registry.js';
import type { AuthRequest, Fields, Passdb, PassdbResult } from '../types.js';
import { expandVarsDetailed, varContextFromRequest } from '../vars.js';
import { passdbLabel, type PassdbDriver } from './descriptor.js';
import { fieldListAbilities, mergeAbilities, storedScheme } from './abilities.js';
import { readFileSync } from 'node:fs';
import type { PassdbSpec } from '../config.js';
import type { AuthDeps } from '../deps.js';
import type { PassdbAbilities } from '../types.js';
import { parsePasswdFile, parsePasswdFileArgs, type PasswdEntry } from './passwd-file-format.js';

/** Files kept parsed when the path has variables (one per domain, say). */
const MAX_CACHED_FILES = 1000;

type Sync = { ok: true; users: Map<string, PasswdEntry> } | { ok: false; missing: boolean; reason: string };

/**
 * One file, re-read when its mtime, size or inode changes. The stat runs on every
 * lookup, as Dovecot's does; concurrent lookups share one stat and one read.
 */
class PasswdFile {
  #stamp: { mtimeMs: number; size: number; ino: number } | undefined;
  #users: Map<string, PasswdEntry> | undefined;
  #syncing: Promise<Sync> | undefined;

  constructor(
    readonly path: string,
    private readonly log: AuthLogger,
  ) {}

  sync(): Promise<Sync> {
    this.#syncing ??= this.#sync().finally(() => {
      this.#syncing = undefined;
    });
    return this.#syncing;
  }

  async #sync(): Promise<Sync> {
    try {
      const st = await stat(this.path);
      const s = this.#stamp;
      if (this.#users && s && s.mtimeMs === st.mtimeMs && s.size === st.size && s.ino === st.ino) {
        return { ok: true, users: this.#users };
      }
      // Read through one descriptor so the stamp describes exactly what was parsed.
      const fh = await open(this.path, 'r');
      try {
        const fst = await fh.stat();
        const parsed = parsePasswdFile(await fh.readFile('utf8'));
        for (const w of parsed.warnings) this.log.warn({ path: this.path }, `passwd-file: ${w}`);
        this.#stamp = { mtimeMs: fst.mtimeMs, size: fst.size, ino: fst.ino };
        this.#users = parsed.users;
        this.log.debug({ path: this.path, users: parsed.users.size }, 'passwd-file read');
        return { ok: true, users: parsed.users };
      } finally {
        await fh.close();
      }
    } catch (err) {
      // Forget the old contents: a file we cannot read now is not the file we read then.
      this.#stamp = undefined;
      this.#users = undefined;
      const code = (err as NodeJS.ErrnoException).code ?? 'error';
      return { ok: false, missing: code === 'ENOENT', reason: `cannot read ${this.path}: ${code}` };
    }
  }
}

/** Dovecot's path_fix: a value put into the path loses its first '/' and all after. */
function pathValue(v: string): string {
  const slash = v.indexOf('/');
  return slash < 0 ? v : v.slice(0, slash);
}

/**
 * Dovecot's passwd-file passdb. A missing or unreadable file is a temporary failure,
 * never "unknown user", so a lost file cannot fall through to the next passdb. One
 * exception, as Dovecot: when the path has variables (`/etc/mail/%d/passwd`), a
 * missing file means no such domain, so unknown user.
 */
export const passwdFileDriver: PassdbDriver = {
  driver: 'passwd-file',
  description: 'Dovecot passwd-file: "[scheme=CRYPT] [username_format=%u] /path/with/%d/vars".',
  create(spec, deps): Passdb {
    const opts = parsePasswdFileArgs(spec.args);
    if (!getScheme(opts.scheme)) throw new AuthError('AUTH_CONFIG', `passdb passwd-file: unknown scheme ${opts.scheme}`);
    if (!isAbsolute(opts.path)) {
      if (deps.baseDir === undefined) throw new AuthError('AUTH_CONFIG', `passdb passwd-file: path ${opts.path} is not absolute`);
      opts.path = resolve(deps.baseDir, opts.path);
    }
    const log = (deps.log ?? silentLogger).child({ passdb: 'passwd-file' });
    const hasVars = /%[^%]/.test(opts.path.replaceAll('%%', ''));
    // Only escaped percents: they mean a literal '%', as Dovecot unescapes them once.
    const fixedPath = hasVars ? undefined : opts.path.replaceAll('%%', '%');
    const files = new Map<string, PasswdFile>();

    const fileFor = (path: string): PasswdFile => {
      let f = files.get(path);
      if (!f) {
        if (files.size >= MAX_CACHED_FILES) files.delete(files.keys().next().value!);
        f = new PasswdFile(path, log);
        files.set(path, f);
      }
      return f;
    };

    return {
      name: passdbLabel(spec, opts.path),
      cacheKey: `${opts.path} ${opts.usernameFormat}`,
      async lookup(req: AuthRequest): Promise<PassdbResult> {
        const ctx = varContextFromRequest(req);
        let path = fixedPath;
        if (path === undefined) {
          let unsafe = false;
          const e = expandVarsDetailed(opts.path, ctx, (v) => {
            const cut = pathValue(v);
            if (cut === '.' || cut === '..' || cut.includes('\0')) unsafe = true;
            return cut;
          });
          if (e.unknown.length > 0) return { kind: 'tempFail', reason: `unknown variable ${e.unknown.join(', ')} in path` };
          // A user name that would walk the tree names no user of ours.
          if (unsafe) return { kind: 'userUnknown' };
          path = e.value;
        }
        const file = fileFor(path);
        const s = await file.sync();
        if (!s.ok) {
          if (fixedPath === undefined) files.delete(path);
          if (s.missing && fixedPath === undefined) return { kind: 'userUnknown' };
          return { kind: 'tempFail', reason: s.reason };
        }

        const name = expandVarsDetailed(opts.usernameFormat, ctx);
        if (name.unknown.length > 0) {
          return { kind: 'tempFail', reason: `unknown variable ${name.unknown.join(', ')} in username_format` };
        }
        // Such names cannot be in the file (':' splits, lines split, NUL lines are skipped).
        if (/[:\0\r\n]/.test(name.value)) return { kind: 'userUnknown' };
        const entry = s.users.get(name.value);
        if (!entry) return { kind: 'userUnknown' };

        const fields: Fields = {};
        for (const token of entry.extraFields) {
          const eq = token.indexOf('=');
          const key = eq < 0 ? token : token.slice(0, eq);
          if (key === '') continue; // Dovecot asserts on this; we skip it
          const e = expandVarsDetailed(eq < 0 ? '' : token.slice(eq + 1), ctx);
          if (e.unknown.length > 0) {
            return { kind: 'tempFail', reason: `unknown variable ${e.unknown.join(', ')} in extra field ${key}` };
          }
          setField(fields, key, e.value);
        }
        const password = entry.password === null ? null : withDefaultScheme(entry.password, opts.scheme);
        return { kind: 'found', password, fields };
      },
      close: async () => {
        files.clear();
      },
    };
  },
  abilities: passwdFileAbilities,
};

/**
 * The schemes in the file as it is at start (a path with variables: its default scheme), and
 * any proxy_mech extra field. Read once: which mechanisms to offer is decided at start.
 */
function passwdFileAbilities(spec: PassdbSpec, deps: AuthDeps): PassdbAbilities {
  const opts = parsePasswdFileArgs(spec.args);
  const path = isAbsolute(opts.path) || deps.baseDir === undefined ? opts.path : resolve(deps.baseDir, opts.path);
  if (/%[^%]/.test(path.replaceAll('%%', ''))) return { schemes: [storedScheme('', opts.scheme)] };
  let text: string;
  try {
    text = readFileSync(path.replaceAll('%%', '%'), 'utf8');
  } catch {
    return { schemes: [storedScheme('', opts.scheme)] };
  }
  const list = [...parsePasswdFile(text).users.values()].map((e) =>
    fieldListAbilities([...(e.password !== null ? [['password', e.password] as const] : []), ...e.extraFields.map((t) => [t.split('=')[0]!, t.slice(t.indexOf('=') + 1)] as const)], opts.scheme),
  );
  return mergeAbilities(list);
}
