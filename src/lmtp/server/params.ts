import type { EsmtpParam } from '../wire/index.js';
import { R } from './replies.js';
import { xtext } from './xclient.js';
import { xtextDecode } from './xclient-in.js';

export type ParamCheck<T> = { kind: 'ok'; value: T } | { kind: 'refuse'; reply: string };

/**
 * MAIL parameters Dovecot's LMTP takes: SIZE (RFC 1870) and BODY=7BIT/8BITMIME (RFC 6152).
 * Like Dovecot 2.3, postern does not offer DSN, so RET and ENVID (RFC 3461) get 555, as do
 * SMTPUTF8, BODY=BINARYMIME, AUTH and anything else.
 */
export function checkMailParams(params: readonly EsmtpParam[], maxMessageBytes: number): ParamCheck<undefined> {
  for (const p of params) {
    if (p.keyword === 'SIZE' && p.value !== undefined && /^\d+$/.test(p.value)) {
      if (Number(p.value) > maxMessageBytes) return { kind: 'refuse', reply: R.tooBigDeclared };
    } else if (!(p.keyword === 'BODY' && (p.value?.toUpperCase() === '7BIT' || p.value?.toUpperCase() === '8BITMIME'))) {
      return { kind: 'refuse', reply: R.badParam(p.keyword) };
    }
  }
  return { kind: 'ok', value: undefined };
}

/** RCPT parameters worth passing on, still encoded as they came. */
export interface RcptParams {
  /** ORCPT (RFC 3461 §4.2) as given: `addr-type;xtext`. */
  orcpt?: string;
  /** XRCPTFORWARD: tab-separated forward fields, xtext-encoded (Dovecot's lmtp, lib-smtp smtp_params_add_encoded). */
  forward?: string;
}

const ORCPT = /^[A-Za-z0-9][A-Za-z0-9-]*;[\x21-\x7e]+$/;

/**
 * RCPT parameters as Dovecot's LMTP takes them: ORCPT is accepted without DSN being offered
 * (Dovecot's hidden _ORCPT capability) and passed to the backend; XRCPTFORWARD only from
 * login_trusted_networks (lmtp-commands.c); NOTIFY and anything else get 555.
 */
export function checkRcptParams(params: readonly EsmtpParam[], trusted: boolean): ParamCheck<RcptParams> {
  const out: RcptParams = {};
  for (const p of params) {
    if (p.keyword === 'ORCPT') {
      if (p.value === undefined || !ORCPT.test(p.value)) return { kind: 'refuse', reply: R.badOrcpt };
      out.orcpt = p.value;
    } else if (p.keyword === 'XRCPTFORWARD') {
      if (p.value === undefined || xtextDecode(p.value) === undefined) return { kind: 'refuse', reply: R.badForward };
      if (!trusted) return { kind: 'refuse', reply: R.forwardUntrusted };
      out.forward = p.value;
    } else {
      return { kind: 'refuse', reply: R.badParam(p.keyword) };
    }
  }
  return { kind: 'ok', value: out };
}

/** Dovecot's str_append_tabescaped: the bytes that would break a tab-separated list. */
function tabEscape(s: string): string {
  return s.replace(/[\x01\t\r\n]/g, (c) => `\x01${({ '\x01': '1', '\t': 't', '\r': 'r', '\n': 'n' } as Record<string, string>)[c]}`);
}

/** passdb `forward_<name>=<value>` fields as an XRCPTFORWARD value (lmtp-proxy.c); undefined when there are none. */
export function forwardFromPassdb(fields: Readonly<Record<string, string>>): string | undefined {
  const list = Object.entries(fields).filter(([k]) => k.toLowerCase().startsWith('forward_')).map(([k, v]) => tabEscape(`${k.slice(8)}=${v}`));
  return list.length === 0 ? undefined : xtext(list.join('\t'));
}
