import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import type { Entry, Filter } from 'ldapts';
import type { PassdbSpec } from '../config.js';
import { silentLogger, type AuthDeps, type AuthLogger } from '../deps.js';
import { AuthError } from '../errors.js';
import type { AuthRequest, Fields, Passdb, PassdbResult } from '../types.js';
import { expandVarsDetailed, varContextFromRequest, type VarContext } from '../vars.js';
import { entryFields, type LdapEntry } from './ldap-attrs.js';
import { readDovecotConf } from './dovecot-conf-file.js';
import { LdapBindPool, LdapConnection, LdapResult, LdapUnavailableError, describeLdapError, ldapResultCode, ldapts } from './ldap-conn.js';
import { escapeDnValue, escapeFilterValue, filterForLdapts } from './ldap-escape.js';
import { resolveLdapConfig, settingsFromConf, type FileAccess, type LdapConfig, type LdapSettings } from './ldap-settings.js';
import { passdbLabel, type PassdbDriver } from './descriptor.js';
import { proxyMechValue, storedScheme } from './abilities.js';
import type { PassdbAbilities } from '../types.js';

/*
 * Dovecot's ldap passdb (passdb-ldap.c). Without auth_bind: search with pass_filter,
 * map pass_attrs to fields and leave the password check to the authenticator. With
 * auth_bind: search for the user's DN (or build it from auth_bind_userdn) and bind
 * as the user on a separate connection, so the search identity never changes.
 */

/** Connections for user binds; Dovecot waits on one, postern keeps a few. */
const AUTH_BIND_CONNECTIONS = 4;
/** Binds queued beyond that are a temporary failure, not an unbounded queue. */
const MAX_WAITING_BINDS = 1000;
/** A longer filter comes from a user name no directory holds (the server would drop us). */
const MAX_FILTER_CHARS = 16_384;
/** Two are enough to see "more than one": Dovecot's error for those does not need the rest. */
const SEARCH_SIZE_LIMIT = 2;

type Expanded = { value: string } | { tempFail: string };

function expand(template: string, ctx: VarContext, escape: (v: string) => string, key: string): Expanded {
  const e = expandVarsDetailed(template, ctx, escape);
  return e.unknown.length > 0 ? { tempFail: `unknown variable ${e.unknown.join(', ')} in ${key}` } : { value: e.value };
}

function toEntry(e: Entry): LdapEntry {
  const values = new Map<string, string[]>();
  for (const [name, v] of Object.entries(e)) {
    if (name === 'dn') continue;
    const list = Array.isArray(v) ? v : [v];
    values.set(name.toLowerCase(), list.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : String(x))));
  }
  return { dn: e.dn, values };
}

export class LdapPassdb implements Passdb {
  readonly name: string;
  readonly cacheKey?: string;
  readonly #cfg: LdapConfig;
  readonly #log: AuthLogger;
  readonly #search: LdapConnection;
  readonly #binds: LdapBindPool | undefined;
  #closed: Promise<void> | undefined;

  constructor(cfg: LdapConfig, name: string, log: AuthLogger, cacheKey?: string) {
    this.name = name;
    if (cacheKey !== undefined) this.cacheKey = cacheKey;
    this.#cfg = cfg;
    this.#log = log;
    const common = { servers: cfg.servers, startTls: cfg.startTls, tls: cfg.tls, log };
    this.#search = new LdapConnection({
      ...common,
      purpose: 'search',
      ...(cfg.dn !== undefined ? { bindDn: cfg.dn } : {}),
      ...(cfg.dnpass !== undefined ? { bindPassword: cfg.dnpass } : {}),
    });
    this.#binds = cfg.authBind
      ? new LdapBindPool(() => new LdapConnection({ ...common, purpose: 'auth bind' }), AUTH_BIND_CONNECTIONS, MAX_WAITING_BINDS)
      : undefined;
  }

  async lookup(req: AuthRequest): Promise<PassdbResult> {
    if (this.#closed) return { kind: 'tempFail', reason: 'ldap passdb is closed' };
    const ctx = varContextFromRequest(req);
    const cfg = this.#cfg;

    if (cfg.authBindUserdn !== undefined && req.password !== undefined) {
      // Dovecot's auth_bind_userdn: no search, no fields; the bind alone decides.
      const dn = expand(cfg.authBindUserdn, ctx, escapeDnValue, 'auth_bind_userdn');
      if ('tempFail' in dn) return { kind: 'tempFail', reason: dn.tempFail };
      return this.#authBind(dn.value, req, {});
    }

    const found = await this.#find(req, ctx);
    if (found.kind !== 'entry') return found;
    const r = entryFields(found.entry, cfg.passAttrs, ctx, cfg.defaultPassScheme);
    for (const w of r.warnings) this.#log.warn({ passdb: this.name, user: req.user }, w);
    if (r.unknown.length > 0) return { kind: 'tempFail', reason: `unknown variable ${r.unknown.join(', ')} in pass_attrs` };

    if (!cfg.authBind) return { kind: 'found', password: r.password, fields: r.fields };
    // A lookup without a password (LMTP, auth lookup) cannot bind: fields only, as Dovecot's.
    if (req.password === undefined) return { kind: 'found', password: null, fields: r.fields };
    return this.#authBind(found.entry.dn, req, r.fields);
  }

  /** The one entry pass_filter finds under base, or the result that ends the lookup. */
  async #find(req: AuthRequest, ctx: VarContext): Promise<{ kind: 'entry'; entry: LdapEntry } | PassdbResult> {
    const cfg = this.#cfg;
    const base = expand(cfg.base, ctx, escapeDnValue, 'base');
    if ('tempFail' in base) return { kind: 'tempFail', reason: base.tempFail };
    const text = expand(cfg.passFilter, ctx, escapeFilterValue, 'pass_filter');
    if ('tempFail' in text) return { kind: 'tempFail', reason: text.tempFail };
    if (text.value.length > MAX_FILTER_CHARS) {
      this.#log.info({ passdb: this.name, chars: text.value.length }, 'pass_filter too long after expansion; no such user');
      return { kind: 'userUnknown' };
    }
    let filter: Filter;
    try {
      filter = ldapts().FilterParser.parseString(filterForLdapts(text.value));
    } catch (err) {
      // Values are escaped, so this is the template's fault, not the user's.
      this.#log.error({ passdb: this.name, filter: cfg.passFilter, error: describeLdapError(err) }, 'invalid pass_filter');
      return { kind: 'tempFail', reason: `invalid pass_filter: ${describeLdapError(err)}` };
    }

    let entries: Entry[];
    try {
      const result = await this.#search.run((c) =>
        c.search(base.value, {
          scope: cfg.scope,
          derefAliases: cfg.deref,
          filter,
          attributes: cfg.passAttrs.request,
          sizeLimit: SEARCH_SIZE_LIMIT,
        }),
      );
      entries = result.searchEntries;
    } catch (err) {
      // As Dovecot: a base that does not exist (a %d nobody has) is no such user.
      if (ldapResultCode(err) === LdapResult.noSuchObject) return { kind: 'userUnknown' };
      return { kind: 'tempFail', reason: this.#failure('search', err) };
    }
    if (entries.length === 0) return { kind: 'userUnknown' };
    if (entries.length > 1) {
      this.#log.error({ passdb: this.name, user: req.user }, 'pass_filter matched multiple objects, aborting');
      return { kind: 'tempFail', reason: 'pass_filter matched multiple objects' };
    }
    return { kind: 'entry', entry: toEntry(entries[0]!) };
  }

  async #authBind(dn: string, req: AuthRequest, fields: Fields): Promise<PassdbResult> {
    const password = req.password?.reveal() ?? '';
    // An empty password is an anonymous ("unauthenticated") bind that many servers accept.
    if (password === '') {
      this.#log.info({ passdb: this.name, user: req.user }, 'login attempt with empty password');
      return { kind: 'passwordMismatch' };
    }
    if (dn === '') return { kind: 'passwordMismatch' };
    try {
      await this.#binds!.run((c) => c.bind(dn, password));
      return { kind: 'ok', fields };
    } catch (err) {
      switch (ldapResultCode(err)) {
        case LdapResult.invalidCredentials:
          this.#log.info({ passdb: this.name, user: req.user }, 'password mismatch (for LDAP bind)');
          return { kind: 'passwordMismatch' };
        case LdapResult.noSuchObject:
          return { kind: 'userUnknown' };
        default:
          return { kind: 'tempFail', reason: this.#failure('bind', err) };
      }
    }
  }

  #failure(what: string, err: unknown): string {
    if (err instanceof LdapUnavailableError) return err.message;
    const why = `LDAP ${what} failed: ${describeLdapError(err)}`;
    this.#log.error({ passdb: this.name }, why);
    return why;
  }

  close(): Promise<void> {
    this.#closed ??= Promise.all([this.#search.close(), this.#binds?.close()]).then(() => {});
    return this.#closed;
  }
}

/** Relative paths: against the directory of the file that names them. */
function fileAccess(baseDir: string | undefined): FileAccess {
  return {
    resolve: (p) => (isAbsolute(p) || baseDir === undefined ? p : resolve(baseDir, p)),
    readText: (p) => readFileSync(p, 'utf8'),
    listDir: (p) => readdirSync(p).map((f) => join(p, f)).filter((f) => statSync(f).isFile()),
  };
}

function readConf(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AuthError('AUTH_CONFIG', `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** The settings from the inline `ldap:` object or the args file, never both. */
function loadSettings(spec: PassdbSpec, deps: AuthDeps): { settings: LdapSettings; files: FileAccess; source: string } {
  const path = spec.args.trim();
  if (spec.ldap !== undefined) {
    if (path !== '') throw new AuthError('AUTH_CONFIG', 'passdb ldap: give either args (a dovecot-ldap.conf.ext) or ldap:, not both');
    return { settings: spec.ldap, files: fileAccess(deps.baseDir), source: 'inline' };
  }
  if (path === '') throw new AuthError('AUTH_CONFIG', 'passdb ldap: needs ldap: settings or args naming a dovecot-ldap.conf.ext');
  const full = isAbsolute(path) || deps.baseDir === undefined ? path : resolve(deps.baseDir, path);
  const settings = settingsFromConf(readDovecotConf(full, readConf), full);
  return { settings, files: fileAccess(dirname(full)), source: full };
}

export const ldapDriver: PassdbDriver = {
  driver: 'ldap',
  description: 'LDAP as Dovecot: inline ldap: settings or args naming a dovecot-ldap.conf.ext; password lookup or auth_bind.',
  create(spec, deps): Passdb {
    const { settings, files, source } = loadSettings(spec, deps);
    const cfg = resolveLdapConfig(settings, files);
    const log = (deps.log ?? silentLogger).child({ passdb: 'ldap' });
    for (const w of cfg.warnings) log.warn({ source }, w);
    const cacheKey = [settings.base, settings.pass_filter, settings.pass_attrs ?? '', settings.auth_bind_userdn ?? ''].join(' ');
    return new LdapPassdb(cfg, passdbLabel(spec, cfg.servers.map((s) => s.label).join(' ')), log, cacheKey);
  },
  abilities: ldapAbilities,
};

/** auth_bind keeps no password to hand out; otherwise default_pass_scheme stands for the attribute's. */
function ldapAbilities(spec: PassdbSpec, deps: AuthDeps): PassdbAbilities {
  const { settings } = loadSettings(spec, deps);
  const proxyMechs = /=\s*proxy_mech\b/.test(settings.pass_attrs ?? '') ? [proxyMechValue('%')] : [];
  return { schemes: settings.auth_bind ? [] : [storedScheme('', settings.default_pass_scheme)], proxyMechs };
}
