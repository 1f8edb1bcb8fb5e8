/** An ESMTP parameter (RFC 5321 §4.1.2 esmtp-param): keyword upper-cased, value as sent. */
export interface EsmtpParam {
  keyword: string;
  value?: string;
}

/** The commands an LMTP server knows (RFC 2033 §4, RFC 5321 §4.1.1). */
export type LmtpCommand =
  | { name: 'LHLO'; domain: string }
  /** `path` is the address between the brackets ('' for the null path), source route dropped. */
  | { name: 'MAIL'; path: string; params: EsmtpParam[] }
  | { name: 'RCPT'; path: string; params: EsmtpParam[] }
  | { name: 'DATA' }
  | { name: 'RSET' }
  | { name: 'NOOP' }
  | { name: 'QUIT' }
  | { name: 'VRFY'; arg: string }
  /** RFC 3207. */
  | { name: 'STARTTLS' }
  /** Postfix XCLIENT_README: `attribute=xtext` pairs, values still xtext-encoded. */
  | { name: 'XCLIENT'; params: EsmtpParam[] }
  /** Known to SMTP but not offered here (RFC 5321 §4.2.4: 502); `verb` upper-cased. */
  | { name: 'unimplemented'; verb: string }
  /** Not a command at all, HELO/EHLO included: RFC 2033 §4.1 forbids them on LMTP (500). */
  | { name: 'unknown'; verb: string };

/** A known command with bad arguments (RFC 5321 §4.2.3: 501). Never fatal. */
export interface LmtpSyntaxError {
  kind: 'syntaxError';
  verb: string;
  message: string;
}

export type ParseResult = { kind: 'command'; command: LmtpCommand } | LmtpSyntaxError;

const UNIMPLEMENTED = new Set(['EXPN', 'HELP', 'TURN', 'ETRN', 'SEND', 'SOML', 'SAML', 'AUTH', 'BDAT']);
const KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
// esmtp-value = 1*(%d33-60 / %d62-126), plus UTF-8 (RFC 6531 §3.3)
const VALUE = /^[\x21-\x3c\x3e-\x7e\u0080-\u{10ffff}]+$/u;

const ok = (command: LmtpCommand): ParseResult => ({ kind: 'command', command });
const bad = (verb: string, message: string): LmtpSyntaxError => ({ kind: 'syntaxError', verb, message });

/** One command line without its CRLF (RFC 5321 §4.1.1). */
export function parseCommand(lineBytes: Buffer): ParseResult {
  const line = lineBytes.toString('utf8');
  const sp = line.indexOf(' ');
  // Verbs are case-insensitive ASCII (RFC 5321 §2.4); only a-z are folded.
  const verb = (sp < 0 ? line : line.slice(0, sp)).replace(/[a-z]+/g, (s) => s.toUpperCase());
  const args = sp < 0 ? '' : line.slice(sp + 1);
  switch (verb) {
    case 'LHLO': {
      const domain = args.trim();
      if (domain === '' || /\s/.test(domain)) return bad(verb, 'Invalid domain');
      return ok({ name: 'LHLO', domain });
    }
    case 'MAIL':
    case 'RCPT':
      return parsePathCommand(verb, args);
    case 'DATA':
    case 'RSET':
    case 'QUIT':
    case 'STARTTLS':
      if (args.trim() !== '') return bad(verb, 'Invalid parameters');
      return ok({ name: verb });
    case 'XCLIENT': {
      const params = parseParams(verb, args);
      return 'kind' in params ? params : ok({ name: 'XCLIENT', params });
    }
    case 'NOOP': // an optional string is allowed and ignored (RFC 5321 §4.1.1.9)
      return ok({ name: 'NOOP' });
    case 'VRFY':
      if (args.trim() === '') return bad(verb, 'Invalid parameters');
      return ok({ name: 'VRFY', arg: args.trim() });
    default:
      return ok(UNIMPLEMENTED.has(verb) ? { name: 'unimplemented', verb } : { name: 'unknown', verb });
  }
}

/**
 * mail = "MAIL FROM:" Reverse-path [SP Mail-parameters]
 * rcpt = "RCPT TO:" ( "<Postmaster@" Domain ">" / "<Postmaster>" / Forward-path ) [SP Rcpt-parameters]
 * (RFC 5321 §4.1.1.2-3). A space after the colon is tolerated, as Dovecot and Postfix do.
 */
function parsePathCommand(verb: 'MAIL' | 'RCPT', args: string): ParseResult {
  const prefix = verb === 'MAIL' ? 'FROM:' : 'TO:';
  if (args.slice(0, prefix.length).toUpperCase() !== prefix) return bad(verb, `Invalid parameters: ${prefix} expected`);
  let rest = args.slice(prefix.length).replace(/^ +/, '');
  const path = readPath(rest);
  if (path === undefined) return bad(verb, 'Invalid path');
  if (verb === 'RCPT' && path.address === '') return bad(verb, 'Null path not allowed');
  rest = rest.slice(path.length);
  if (rest !== '' && rest[0] !== ' ') return bad(verb, 'Invalid path');
  const params = parseParams(verb, rest);
  if ('kind' in params) return params;
  return ok({ name: verb, path: path.address, params });
}

/** esmtp-param *(SP esmtp-param) (RFC 5321 §4.1.2); runs of spaces and a trailing one are tolerated, as Postfix sends them. */
function parseParams(verb: string, text: string): EsmtpParam[] | LmtpSyntaxError {
  const params: EsmtpParam[] = [];
  for (const word of text.split(' ')) {
    if (word === '') continue;
    const eq = word.indexOf('=');
    const keyword = eq < 0 ? word : word.slice(0, eq);
    if (!KEYWORD.test(keyword)) return bad(verb, `Invalid parameter: ${keyword}`);
    if (eq < 0) {
      params.push({ keyword: keyword.toUpperCase() });
      continue;
    }
    const value = word.slice(eq + 1);
    if (!VALUE.test(value)) return bad(verb, `Invalid value for ${keyword.toUpperCase()}`);
    params.push({ keyword: keyword.toUpperCase(), value });
  }
  return params;
}

/** Path = "<" [ A-d-l ":" ] Mailbox ">", with quoted local parts that may hold ">" (RFC 5321 §4.1.2). */
function readPath(s: string): { address: string; length: number } | undefined {
  if (s[0] !== '<') return undefined;
  let quoted = false;
  for (let i = 1; i < s.length; i++) {
    const c = s[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === '>') {
      let address = s.slice(1, i);
      // The source route is obsolete and ignored (RFC 5321 §4.1.1.3, appendix C).
      if (address.startsWith('@')) {
        const colon = address.indexOf(':');
        if (colon < 0) return undefined;
        address = address.slice(colon + 1);
      }
      if (/[\s<>]/.test(address.replace(/"(?:[^"\\]|\\.)*"/g, ''))) return undefined;
      return { address, length: i + 1 };
    } else if (!quoted && (c === '<' || c === ' ')) return undefined;
  }
  return undefined;
}
