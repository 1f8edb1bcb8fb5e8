import type { PasswordScheme } from '../types.js';

/**
 * How a scheme stores its value when no `.hex`/`.b64` suffix is given
 * (Dovecot's `default_encoding`). `none` means the value is text (PLAIN, crypt strings).
 */
export type SchemeEncoding = 'none' | 'hex' | 'base64';

/** What `doveadm pw` passes to a generator (Dovecot's password_generate_params). */
export interface GenerateParams {
  /** `-r`: rounds, cost or ops limit; 0 or absent means the scheme's default. */
  readonly rounds?: number;
}

/**
 * A registry entry: the scheme plus what the registry needs to handle suffixes.
 * A binary scheme's `generate` returns its digest in `encoding`, and its `verify`
 * accepts at least that encoding (the registry re-encodes `.hex`/`.b64` input to it).
 */
export interface SchemeDescriptor extends PasswordScheme {
  readonly aliases?: readonly string[];
  /** A work-factor scheme (crypt rounds, bcrypt cost, Argon2, PBKDF2): verified off the event loop. */
  readonly slow?: boolean;
  readonly encoding: SchemeEncoding;
  /** Length of the raw digest for binary schemes (16 for PLAIN-MD5). */
  readonly rawLength?: number;
  /** Schemes that ignore `rounds` leave the parameter out, as Dovecot's do. */
  generate(plain: string, user: string, params?: GenerateParams): string | Promise<string>;
}
