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
  if (opts.override) return [...opts.override];
  const caps = ['IMAP4rev1', 'SASL-IR', 'LOGIN-REFERRALS', 'ID', 'LITERAL+'];
  if (opts.starttls) caps.push('STARTTLS');
  if (!opts.plaintextAllowed) caps.push('LOGINDISABLED');
  // PLAIN and LOGIN are the only mechanisms so far, and both are plaintext.
  if (opts.plaintextAllowed) for (const m of opts.mechanisms) caps.push(`AUTH=${m}`);
  return caps;
}
