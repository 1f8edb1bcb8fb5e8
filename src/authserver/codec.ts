import { MAX_LINE_BYTES, PROTOCOL_MAJOR, PROTOCOL_MINOR } from './limits.js';

/*
 * Dovecot's auth-client protocol v1 (shared/reference/dovecot-behaviour.md, section 3): one
 * command per LF-terminated line, fields split by TAB, values tab-escaped with \001. This file
 * does no I/O: bytes in, lines and commands out; replies out as strings.
 */

// ---- framing ----------------------------------------------------------------------------

export type FrameEvent = { kind: 'line'; text: string } | { kind: 'tooLong'; bytes: number };

const LF = 0x0a;

/**
 * Splits input into lines (LF; a CR before it is dropped). More than MAX_LINE_BYTES before
 * the LF is an error, reported as soon as the bytes arrive, so a client cannot make us buffer more.
 */
export class LineFramer {
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #failed = false;

  /** Feed bytes; returns the complete lines, or ends with `tooLong` (after which nothing more is read). */
  feed(chunk: Buffer): FrameEvent[] {
    const out: FrameEvent[] = [];
    if (this.#failed) return out;
    let start = 0;
    for (;;) {
      const lf = chunk.indexOf(LF, start);
      const piece = chunk.subarray(start, lf < 0 ? chunk.length : lf);
      const bytes = this.#pendingBytes + piece.length;
      if (bytes > MAX_LINE_BYTES) {
        this.#failed = true;
        out.push({ kind: 'tooLong', bytes });
        return out;
      }
      if (lf < 0) {
        if (piece.length > 0) {
          this.#pending.push(piece);
          this.#pendingBytes = bytes;
        }
        return out;
      }
      let line = this.#pending.length === 0 ? piece : Buffer.concat([...this.#pending, piece]);
      this.#pending = [];
      this.#pendingBytes = 0;
      if (line.at(-1) === 0x0d) line = line.subarray(0, -1);
      out.push({ kind: 'line', text: line.toString('utf8') });
      start = lf + 1;
    }
  }
}

// ---- tab escaping -----------------------------------------------------------------------

const ESC = '\x01';
const ESCAPES: Record<string, string> = { '\0': '0', '\x01': '1', '\t': 't', '\r': 'r', '\n': 'n' };
const UNESCAPES: Record<string, string> = { '0': '\0', '1': '\x01', t: '\t', r: '\r', n: '\n' };

/** Dovecot's str_tabescape: NUL, \001, TAB, CR and LF as \001 and a letter or digit. */
export function tabEscape(value: string): string {
  return value.replace(/[\0\x01\t\r\n]/g, (c) => ESC + ESCAPES[c]!);
}

/** The inverse; any other escaped character stands for itself. Null for a dangling \001 at the end. */
export function tabUnescape(field: string): string | null {
  if (!field.includes(ESC)) return field;
  let out = '';
  for (let i = 0; i < field.length; i++) {
    const c = field[i]!;
    if (c !== ESC) {
      out += c;
      continue;
    }
    const next = field[++i];
    if (next === undefined) return null;
    out += UNESCAPES[next] ?? next;
  }
  return out;
}

// ---- client commands ----------------------------------------------------------------------

/** The AUTH parameters postern uses; unknown ones are ignored, as the protocol requires. */
export interface AuthParams {
  service?: string;
  session?: string;
  /** Local and remote address and port of the MTA's client connection, as the MTA saw them. */
  lip?: string;
  rip?: string;
  lport?: number;
  rport?: number;
  /** TLS (or a connection the MTA trusts): Dovecot's %{secured}. */
  secured: boolean;
  validClientCert: boolean;
  /** Authenticate only; no login process follows (Postfix, Exim). */
  nologin: boolean;
  /** Skip the failure penalty for this request. */
  noPenalty: boolean;
}

export type ClientCommand =
  | { kind: 'VERSION'; major: number; minor: number }
  | { kind: 'CPID'; pid: number }
  | { kind: 'AUTH'; id: number; mech: string; params: AuthParams; resp?: string }
  | { kind: 'CONT'; id: number; data: string }
  | { kind: 'CANCEL'; id: number };

export type CommandName = ClientCommand['kind'];

/**
 * A parsed line. `requestError`: a well-framed AUTH with a bad parameter, answered with FAIL;
 * `protocolError`: the client is broken (Dovecot logs "BUG: ..." and disconnects).
 */
export type ParsedLine =
  | { kind: 'command'; command: ClientCommand }
  | { kind: 'requestError'; id: number; message: string }
  | { kind: 'protocolError'; message: string };

const UINT32_MAX = 0xffffffff;

function parseUint(text: string | undefined, max = UINT32_MAX): number | undefined {
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= max ? n : undefined;
}

/** A field for a log line: printable, bounded. */
export function printable(text: string, max = 64): string {
  const clean = text.replace(/[^\x20-\x7e]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}...` : clean;
}

const protocolError = (message: string): ParsedLine => ({ kind: 'protocolError', message });

export function parseClientLine(line: string): ParsedLine {
  if (line.includes('\0')) return protocolError('NUL byte in a line');
  const fields = line.split('\t');
  const name = fields[0]!;
  switch (name) {
    case 'VERSION': {
      const major = parseUint(fields[1]);
      const minor = parseUint(fields[2]);
      if (major === undefined || minor === undefined) return protocolError('VERSION needs a major and a minor number');
      return { kind: 'command', command: { kind: 'VERSION', major, minor } };
    }
    case 'CPID': {
      const pid = parseUint(fields[1]);
      if (pid === undefined) return protocolError('CPID needs a process id');
      return { kind: 'command', command: { kind: 'CPID', pid } };
    }
    case 'AUTH':
      return parseAuth(fields);
    case 'CONT': {
      const id = parseUint(fields[1]);
      if (id === undefined || fields.length < 3) return protocolError('broken CONT: expected CONT<TAB>id<TAB>data');
      return { kind: 'command', command: { kind: 'CONT', id, data: fields.slice(2).join('\t') } };
    }
    case 'CANCEL': {
      const id = parseUint(fields[1]);
      if (id === undefined) return protocolError('broken CANCEL: expected CANCEL<TAB>id');
      return { kind: 'command', command: { kind: 'CANCEL', id } };
    }
    default:
      return protocolError(`unknown command ${JSON.stringify(printable(name))}`);
  }
}

/** AUTH<TAB>id<TAB>mech[<TAB>param...]; `resp=` must be the last parameter. */
function parseAuth(fields: string[]): ParsedLine {
  const id = parseUint(fields[1]);
  const mech = fields[2];
  if (id === undefined || mech === undefined || mech === '') return protocolError('broken AUTH: expected AUTH<TAB>id<TAB>mechanism');
  const params: AuthParams = { secured: false, validClientCert: false, nologin: false, noPenalty: false };
  let resp: string | undefined;
  for (let i = 3; i < fields.length; i++) {
    const field = tabUnescape(fields[i]!);
    if (field === null) return { kind: 'requestError', id, message: 'invalid tab escape in a parameter' };
    const eq = field.indexOf('=');
    const key = eq < 0 ? field : field.slice(0, eq);
    const value = eq < 0 ? '' : field.slice(eq + 1);
    if (key === 'resp') {
      if (i !== fields.length - 1) return { kind: 'requestError', id, message: 'parameters after resp (it must be the last)' };
      resp = value;
      break;
    }
    applyParam(params, key, value);
  }
  if (params.service === undefined || params.service === '') return { kind: 'requestError', id, message: 'no service parameter' };
  return { kind: 'command', command: { kind: 'AUTH', id, mech: mech.toUpperCase(), params, ...(resp !== undefined ? { resp } : {}) } };
}

function applyParam(p: AuthParams, key: string, value: string): void {
  switch (key) {
    case 'service':
    case 'session':
    case 'lip':
    case 'rip':
      p[key] = value;
      return;
    case 'lport':
    case 'rport': {
      const port = parseUint(value, 65535);
      if (port !== undefined) p[key] = port;
      return;
    }
    case 'secured':
      p.secured = true; // bare (2.3) or secured=tls (2.4)
      return;
    case 'valid-client-cert':
      p.validClientCert = true;
      return;
    case 'nologin':
      p.nologin = true;
      return;
    case 'no-penalty':
      p.noPenalty = true;
      return;
    default:
    // unknown parameters are ignored (session_pid, transport, tls_*, client_id, forward_*, ...)
  }
}

// ---- server replies -------------------------------------------------------------------------

export interface MechanismInfo {
  name: string;
  /** `plaintext`, `dictionary`, `active`, `anonymous`, ... as the mechanism declares them. */
  flags: readonly string[];
}

export interface Handshake {
  mechanisms: readonly MechanismInfo[];
  spid: number;
  cuid: number;
  /** 32 hex characters. */
  cookie: string;
}

/** The whole server handshake, sent at once on connect (Dovecot 2.3, "auth-legacy" in 2.4). */
export function handshakeText(h: Handshake): string {
  const mechs = h.mechanisms.map((m) => `MECH\t${m.name}${m.flags.map((f) => `\t${f}`).join('')}\n`).join('');
  return `VERSION\t${PROTOCOL_MAJOR}\t${PROTOCOL_MINOR}\n${mechs}SPID\t${h.spid}\nCUID\t${h.cuid}\nCOOKIE\t${h.cookie}\nDONE\n`;
}

/** Success; `user=` always (Postfix and Exim refuse an OK without it); `resp=` the mechanism's last message (SCRAM's verifier). */
export function okLine(id: number, user: string, resp?: Buffer): string {
  return `OK\t${id}\tuser=${tabEscape(user)}${resp !== undefined ? `\tresp=${resp.toString('base64')}` : ''}\n`;
}

/** A challenge (may be empty: `CONT\t1\t`). */
export function contLine(id: number, challenge: Buffer): string {
  return `CONT\t${id}\t${challenge.toString('base64')}\n`;
}

export interface FailReply {
  /** The login name the client gave, when the mechanism got that far. */
  user?: string;
  /** A temporary failure: `code=temp_fail` (2.4 clients) and `temp` (2.3 clients). */
  temp?: boolean;
  /** Another failure code: `authz_fail` (a master user may not log in as that user), `user_disabled`, ... */
  code?: string;
  reason: string;
  /** The mechanism's last message (OAuth's JSON error), base64 in `resp=`. */
  resp?: Buffer;
}

export function failLine(id: number, f: FailReply): string {
  const user = f.user !== undefined ? `\tuser=${tabEscape(f.user)}` : '';
  const code = f.temp ? '\tcode=temp_fail\ttemp' : f.code !== undefined ? `\tcode=${tabEscape(f.code)}` : '';
  const resp = f.resp !== undefined ? `\tresp=${f.resp.toString('base64')}` : '';
  return `FAIL\t${id}${user}${code}\treason=${tabEscape(f.reason)}${resp}\n`;
}
