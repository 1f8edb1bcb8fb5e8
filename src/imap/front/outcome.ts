import type { LoginOutcome } from '../../login/index.js';
import { REPLY } from './replies.js';

export interface FrontReply {
  status: 'OK' | 'NO';
  text: string;
  /** Counts towards max_auth_failures. */
  authFailure?: boolean;
  /** Close the connection after the reply, with this reason in the log. */
  closeAfter?: string;
}

/** RFC 2221 / RFC 5092 IMAP URL for a login referral. */
function referralUrl(user: string, host: string, port?: number): string {
  const u = encodeURIComponent(user).replace(/;/g, '%3B');
  return `imap://${u};AUTH=*@${host}${port ? `:${port}` : ''}/`;
}

/** Maps every login outcome but success to the tagged reply Dovecot's imap-login would give. */
export function outcomeReply(outcome: Exclude<LoginOutcome, { kind: 'proxied' }>, stamp: () => string): FrontReply {
  switch (outcome.kind) {
    case 'authFailed':
      // A master user who may not act as the user asked for (Dovecot's authz_fail).
      if (outcome.reason === 'authzFailed') return { status: 'NO', text: REPLY.authzFailed, authFailure: true };
      return { status: 'NO', text: outcome.message ? `[ALERT] ${outcome.message}` : REPLY.authFailed, authFailure: true };
    case 'authTempFail':
      return { status: 'NO', text: `${REPLY.authTempFail} [${stamp()}]` };
    case 'nologin':
      return { status: 'NO', text: outcome.reason ? `[CONTACTADMIN] ${outcome.reason}` : REPLY.loginDisabled };
    case 'referral': {
      const url = referralUrl(outcome.user, outcome.host, outcome.port);
      if (outcome.nologin) return { status: 'NO', text: `[REFERRAL ${url}] ${outcome.reason ?? 'Try this server instead.'}` };
      return { status: 'OK', text: `[REFERRAL ${url}] ${outcome.reason ?? 'Logged in, but you should use this server instead.'}`, closeAfter: 'login referral' };
    }
    case 'local':
      return { status: 'NO', text: REPLY.unavailable };
    case 'misrouted':
      return { status: 'NO', text: outcome.loop ? REPLY.unavailable : REPLY.serverBug };
    case 'limitReached':
      // Dovecot closes the connection after this reply.
      return { status: 'NO', text: REPLY.userIpLimit(outcome.max), closeAfter: 'user+IP connection limit' };
    case 'proxyFailed': {
      const f = outcome.failure;
      switch (f.kind) {
        case 'authRefused':
          return { status: 'NO', text: REPLY.authFailed, authFailure: true };
        case 'authTempFail':
        case 'remoteCode': {
          // The backend's own "NO [CODE] text", forwarded under the client's tag.
          const m = /^(NO|BAD) (.*)$/s.exec(f.remoteReply ?? '');
          return { status: 'NO', text: m?.[2] ?? REPLY.unavailable };
        }
        case 'config':
          return { status: 'NO', text: REPLY.serverBug };
        case 'connect':
        case 'timeout':
        case 'protocol':
        case 'internal':
          return { status: 'NO', text: REPLY.unavailable };
        default: {
          const never: never = f.kind;
          throw new Error(`unhandled proxy failure ${String(never)}`);
        }
      }
    }
    default: {
      const never: never = outcome;
      throw new Error(`unhandled login outcome ${JSON.stringify(never)}`);
    }
  }
}
