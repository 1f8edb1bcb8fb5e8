import { PosternError } from '../core/index.js';

/** Stable codes of the auth module; each is listed in docs/errors.md. */
export const AuthErrorCode = {
  /** A passdb spec is invalid: unknown driver, bad args, bad field template. */
  config: 'AUTH_CONFIG',
  /** A password scheme name (or its encoding suffix) is not known. */
  unknownScheme: 'AUTH_UNKNOWN_SCHEME',
  /** Stored password data does not fit its scheme (bad hex, bad crypt string). */
  schemeData: 'AUTH_SCHEME_DATA',
} as const;

export type AuthErrorCode = (typeof AuthErrorCode)[keyof typeof AuthErrorCode];

export class AuthError extends PosternError {
  constructor(code: AuthErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'AuthError';
  }
}
