import { Secret } from '../../core/index.js';
import { escapeSaslname, parseGs2Header } from './gs2.js';
import type { SaslIdentity, SaslServerMechanism, SaslStep } from './types.js';

/*
 * RFC 7628 OAUTHBEARER and Google's XOAUTH2: the client sends its user name and a bearer
 * token in one message; the passdb chain checks the token (an oauth2 passdb) or forwards it
 * (proxy_mech). A refusal is owed a JSON error first (RFC 7628 §3.2.2), sent as a challenge;
 * the client answers it (%x01 or empty) and then gets the failure. Parsing follows Dovecot's
 * sasl-server-mech-oauth2.c.
 */

type OauthStatus = 'invalid_request' | 'invalid_token';

/** The scope named in error messages, as Dovecot's default. */
const ERROR_SCOPE = 'mail';

/** Dovecot's oauth2_valid_token: not empty, no CR or LF. */
function validToken(token: string): boolean {
  return token !== '' && !/[\r\n]/.test(token);
}

/** `Bearer <token>`, the scheme case-insensitive (RFC 6750 §2.1). */
function bearerToken(value: string): string | undefined {
  if (value.slice(0, 7).toLowerCase() !== 'bearer ') return undefined;
  const token = value.slice(7);
  return validToken(token) ? token : undefined;
}

type Parsed = { identity: SaslIdentity; token: string } | { status: OauthStatus; message: string };

/** RFC 7628 §3.1: gs2-header kvsep *kvpair kvsep, kvpair = key "=" value kvsep. */
function parseOauthbearer(data: Buffer): Parsed {
  const text = data.toString('latin1');
  if (text === '') return { status: 'invalid_request', message: 'empty response' };
  const gs2 = parseGs2Header(text);
  if ('error' in gs2) return { status: 'invalid_request', message: gs2.error };
  if (gs2.authzid === undefined) return { status: 'invalid_request', message: 'missing username (a=)' };
  if (gs2.cbind.kind === 'p') return { status: 'invalid_request', message: 'channel binding not supported' };
  const rest = text.slice(gs2.end);
  if (!rest.startsWith('\x01')) return { status: 'invalid_request', message: 'spurious data after the GS2 header' };
  if (!rest.endsWith('\x01\x01')) return { status: 'invalid_request', message: 'missing final key-value separator' };
  let token: string | undefined;
  for (const pair of rest.slice(1, -2).split('\x01')) {
    const m = /^([A-Za-z]+)=([\x20-\x7e\t\r\n]*)$/.exec(pair);
    if (!m) return { status: 'invalid_request', message: 'bad key-value pair' };
    if (m[1] !== 'auth') continue; // host=, port= and unknown keys are ignored
    token = bearerToken(m[2]!);
    if (token === undefined) return { status: 'invalid_token', message: "invalid 'auth' value" };
  }
  if (token === undefined) return { status: 'invalid_token', message: 'missing token' };
  // The GS2 authzid is who logs in here: Dovecot takes it as the user name.
  const authcid = Buffer.from(gs2.authzid, 'latin1').toString('utf8');
  return { identity: { authcid }, token };
}

/** Google's format: user=<name> ^A auth=Bearer <token> ^A ^A; unknown fields are ignored. */
function parseXoauth2(data: Buffer): Parsed {
  if (data.length === 0) return { status: 'invalid_request', message: 'empty response' };
  let user: string | undefined;
  let token: string | undefined;
  for (const field of data.toString('utf8').split('\x01')) {
    if (field.startsWith('user=')) user = field.slice(5);
    else if (field.startsWith('auth=')) {
      token = bearerToken(field.slice(5));
      if (token === undefined) return { status: 'invalid_token', message: "invalid 'auth' value" };
    }
  }
  if (token === undefined) return { status: 'invalid_request', message: 'missing token' };
  if (user === undefined || user === '' || user.includes('\0')) return { status: 'invalid_request', message: 'missing username' };
  return { identity: { authcid: user }, token };
}

function oauthMechanism(name: 'XOAUTH2' | 'OAUTHBEARER', parse: (data: Buffer) => Parsed, errorJson: (s: OauthStatus) => object): SaslServerMechanism {
  const error = (s: OauthStatus) => Buffer.from(JSON.stringify(errorJson(s)), 'utf8');
  return {
    name,
    needs: { kind: 'token' },
    // The token is as good as a password to whoever reads it: Dovecot flags it plaintext.
    flags: ['plaintext'],
    start() {
      let asked = false;
      let done = false;
      return {
        next(response): SaslStep {
          if (done) return { kind: 'invalid', message: `unexpected ${name} message` };
          if (response === null) {
            if (asked) return { kind: 'invalid', message: `missing ${name} response` };
            asked = true;
            return { kind: 'challenge', data: Buffer.alloc(0) };
          }
          done = true;
          const p = parse(response);
          if ('status' in p) return { kind: 'invalid', message: p.message, data: error(p.status) };
          return { kind: 'verify', identity: p.identity, secret: new Secret(p.token) };
        },
        rejected: () => error('invalid_token'),
      };
    },
  };
}

// Google's error: an HTTP-like status; OAUTHBEARER's: the RFC 6750 error code.
const XOAUTH2_STATUS: Record<OauthStatus, string> = { invalid_request: '400', invalid_token: '401' };

export const xoauth2Mechanism = oauthMechanism('XOAUTH2', parseXoauth2, (s) => ({ status: XOAUTH2_STATUS[s], schemes: 'bearer', scope: ERROR_SCOPE }));
export const oauthbearerMechanism = oauthMechanism('OAUTHBEARER', parseOauthbearer, (s) => ({ status: s, scope: ERROR_SCOPE }));

/** The client side, for the backend login (proxy_mech=xoauth2). */
export function xoauth2ClientResponse(user: string, token: string): Buffer {
  return Buffer.from(`user=${user}\x01auth=Bearer ${token}\x01\x01`, 'utf8');
}

/** The client side, for the backend login (proxy_mech=oauthbearer), as Dovecot's dsasl client writes it. */
export function oauthbearerClientResponse(user: string, token: string, host?: string, port?: number): Buffer {
  const hp = `${host ? `host=${host}\x01` : ''}${port ? `port=${port}\x01` : ''}`;
  return Buffer.from(`n,a=${escapeSaslname(user)},\x01${hp}auth=Bearer ${token}\x01\x01`, 'utf8');
}

/** What a client answers to an OAuth error challenge before the server's failure (RFC 7628 §3.2.3). */
export function oauthErrorAcknowledgement(mech: 'XOAUTH2' | 'OAUTHBEARER'): Buffer {
  return mech === 'OAUTHBEARER' ? Buffer.from([1]) : Buffer.alloc(0);
}
