import { test } from 'node:test';
import assert from 'node:assert/strict';
import { preLoginCapabilities } from './capabilities.js';

const base = { starttls: false, plaintextAllowed: true, mechanisms: ['PLAIN', 'LOGIN'] };

test('pre-login capabilities: only what postern serves, as the connection needs', () => {
  const cases: Array<[string, Parameters<typeof preLoginCapabilities>[0], string]> = [
    ['default', { ...base, override: undefined }, 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID LITERAL+ AUTH=PLAIN AUTH=LOGIN'],
    ['plain port before TLS, from afar', { ...base, override: undefined, starttls: true, plaintextAllowed: false, mechanisms: [] }, 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID LITERAL+ STARTTLS LOGINDISABLED'],
    ['before TLS a non-plaintext mechanism stays', { ...base, override: undefined, starttls: true, plaintextAllowed: false, mechanisms: ['SCRAM-SHA-256'] }, 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID LITERAL+ STARTTLS LOGINDISABLED AUTH=SCRAM-SHA-256'],
    ['imap_capability replaces the base set', { ...base, override: ['IMAP4rev1', 'ID'] }, 'IMAP4rev1 ID AUTH=PLAIN AUTH=LOGIN'],
    ['"+" extends it', { ...base, override: ['+XAPPLEPUSHSERVICE', 'X-FOO'], starttls: true }, 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID LITERAL+ XAPPLEPUSHSERVICE X-FOO STARTTLS AUTH=PLAIN AUTH=LOGIN'],
    ['an empty list is the default', { ...base, override: [] }, 'IMAP4rev1 SASL-IR LOGIN-REFERRALS ID LITERAL+ AUTH=PLAIN AUTH=LOGIN'],
  ];
  for (const [name, opts, want] of cases) assert.equal(preLoginCapabilities(opts).join(' '), want, name);
});
