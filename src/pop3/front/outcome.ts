import type { LoginOutcome } from '../../login/index.js';
import { authError, REPLY } from './replies.js';

export interface FrontReply {
  /** The whole status line without CRLF: "-ERR [AUTH] Authentication failed." */
  line: string;
  /** Counts towards max_auth_failures. */
  authFailure?: boolean;
  /** Close the connection after the reply, with this reason in the log. */
  closeAfter?: string;
}

const err = (text: string, extra: Omit<FrontReply, 'line'> = {}): FrontReply => ({ line: `-ERR ${text}`, ...extra });

/**
 * Maps every login outcome but success to the reply Dovecot's pop3-login would give
 * (pop3_client_auth_result, pop3_proxy_send_failure_reply; shared/reference 2.1 table).
 */
export function outcomeReply(outcome: Exclude<LoginOutcome, { kind: 'proxied' }>, stamp: () => string): FrontReply {
  switch (outcome.kind) {
    case 'authFailed':
      // A master user who may not act as the user asked for (Dovecot's authz_fail).
      if (outcome.reason === 'authzFailed') return err(REPLY.authzFailed, { authFailure: true });
      return err(outcome.message ? authError(outcome.message) : REPLY.authFailed, { authFailure: true });
    case 'authTempFail':
      return err(`${REPLY.authTempFail} [${stamp()}]`);
    case 'nologin':
      return err(outcome.reason ? authError(outcome.reason) : REPLY.loginDisabled);
    case 'referral':
      // POP3 has no referral syntax: Dovecot sends the reason as a plain -ERR.
      if (outcome.nologin) return err(outcome.reason ?? REPLY.referralNologin);
      return err(outcome.reason ?? REPLY.referral, { closeAfter: 'login referral' });
    case 'local':
      return err(REPLY.unavailable);
    case 'misrouted':
      return err(outcome.loop ? REPLY.unavailable : REPLY.misconfigured);
    case 'limitReached':
      // Dovecot closes the connection after this reply.
      return err(REPLY.userIpLimit(outcome.max), { closeAfter: 'user+IP connection limit' });
    case 'proxyFailed': {
      const f = outcome.failure;
      switch (f.kind) {
        case 'authRefused':
          return err(REPLY.authFailed, { authFailure: true });
        case 'authTempFail':
        case 'remoteCode':
          // The backend's own "-ERR [SYS/TEMP] ..." or "-ERR [IN-USE] ...", forwarded as it came.
          return f.remoteReply?.startsWith('-ERR') ? { line: f.remoteReply } : err(REPLY.unavailable);
        case 'config':
          return err(REPLY.misconfigured);
        case 'connect':
        case 'timeout':
        case 'protocol':
        case 'internal':
          return err(REPLY.unavailable);
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
