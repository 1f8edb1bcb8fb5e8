/**
 * Every text the POP3 login front says, in one place. Wording follows Dovecot 2.3's pop3-login
 * (src/pop3-login/*.c, src/login-common/*.c); each is sent after "+OK " or "-ERR ".
 */
export const REPLY = {
  greeting: 'postern ready.',
  /** Dovecot's extension: tells a trusted proxy in front that XCLIENT is accepted (greeting prefix). */
  xclientGreeting: '[XCLIENT] postern ready.',
  quit: 'Logging out',
  stls: 'Begin TLS negotiation now.',
  tlsActive: 'TLS is already active.',
  tlsUnavailable: "TLS support isn't enabled.",
  xclientUpdated: 'Updated',
  xclientUntrusted: 'You are not from trusted IP - ignoring',
  xclientInvalid: 'Invalid parameters',
  unknownCommand: 'Unknown command.',
  tooManyBad: 'Too many invalid bad commands.',
  inputTooLong: 'Input buffer full, aborting',
  noUser: 'No username given.',
  apopDisabled: 'APOP not enabled.',
  plaintextDisallowed: '[AUTH] Plaintext authentication disallowed on non-secure (SSL/TLS) connections.',
  plaintextMechDisabled: '[AUTH] Plaintext authentication disabled.',
  unsupportedMech: '[AUTH] Unsupported authentication mechanism.',
  invalidBase64Initial: '[AUTH] Invalid base64 data in initial response',
  invalidBase64: '[AUTH] Invalid base64 data in continued response',
  authAborted: 'Authentication aborted by client.',
  authFailed: '[AUTH] Authentication failed.',
  authzFailed: '[AUTH] Authorization failed',
  authTempFail: '[SYS/TEMP] Temporary authentication failure.',
  loginDisabled: '[AUTH] Login disabled for this user',
  referralNologin: 'Try this server instead.',
  referral: 'Logged in, but you should use this server instead.',
  /** LOGIN_PROXY_FAILURE_MSG with POP3_CMD_REPLY_TEMPFAIL: passing faults. */
  unavailable: '[SYS/TEMP] Account is temporarily unavailable.',
  /** The same with POP3_CMD_REPLY_ERROR: configuration faults, where retrying will not help. */
  misconfigured: 'Account is temporarily unavailable.',
  inactivity: 'Disconnected for inactivity.',
  shutdown: 'Server shutting down.',
  kicked: 'Disconnected by the administrator.',
  internal: '[SYS/TEMP] Internal login failure. Refer to server log for more information.',
  /** Dovecot 2.4's ERR_TOO_MANY_USERIP_CONNECTIONS with POP3_CMD_REPLY_LIMIT (2.3 said [SYS/TEMP]). */
  userIpLimit: (max: number) => `[IN-USE] Maximum number of connections from user+IP exceeded (mail_max_userip_connections=${max})`,
  /** At accept: Dovecot's login processes say this when client_limit × process_limit is reached. */
  totalLimit: 'Connection queue full',
  addressLimit: 'Too many connections from your IP address.',
} as const;

/** Dovecot's POP3_CMD_REPLY_AUTH_ERROR: "[AUTH]" unless the text brings its own code. */
export function authError(text: string): string {
  return text.startsWith('[') ? text : `[AUTH] ${text}`;
}
