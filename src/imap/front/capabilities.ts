/**
 * Before login postern advertises only what it answers itself: a client that sees ID,
 * LITERAL+ or SASL-IR here gets them served. Post-login capabilities come from the backend.
 */
export function preLoginCapabilities(opts: {
  override: readonly string[] | undefined;
  starttls: boolean;
  plaintextAllowed: boolean;
  mechanisms: readonly string[];
}): string[] {
  // Dovecot's imap_capability: a list replaces the base set, a first item starting with "+"
  // extends it; what depends on the connection (STARTTLS, LOGINDISABLED, AUTH=) is added either way.
  const base = ['IMAP4rev1', 'SASL-IR', 'LOGIN-REFERRALS', 'ID', 'LITERAL+'];
  const o = opts.override;
  const caps = !o || o.length === 0 ? base : o[0]!.startsWith('+') ? [...base, o[0]!.slice(1), ...o.slice(1)].filter((c) => c !== '') : [...o];
  if (opts.starttls) caps.push('STARTTLS');
  if (!opts.plaintextAllowed) caps.push('LOGINDISABLED');
  // The session passes only the mechanisms usable now (no plaintext ones before TLS).
  for (const m of opts.mechanisms) caps.push(`AUTH=${m}`);
  return caps;
}
