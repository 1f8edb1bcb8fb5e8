const SECRET_KEYS = /^(pass|password|dnpass|secret|client_secret|token|master_password)$/i;
const SECRET_ARGS = /\b(pass|password|dnpass)=("[^"]*"|\S*)/gi;

/** A copy of a config value with secrets replaced by `***`, for printing. */
export function maskSecrets(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(maskSecrets);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, SECRET_KEYS.test(k) && typeof v === 'string' ? '***' : maskSecrets(v)]));
  }
  // URL credentials (oauth2 introspection_url https://id:secret@host/...) lose their password.
  if (typeof value === 'string') return value.replace(SECRET_ARGS, '$1=***').replace(/^([a-z][a-z0-9+.-]*:\/\/[^:/@\s]*):[^@/\s]*@/i, '$1:***@');
  return value;
}
