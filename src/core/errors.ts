/**
 * The one base class for postern's exceptions. Callers match on `code`, never on
 * the message. Every code is listed in docs/errors.md.
 */
export class PosternError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = 'PosternError';
  }
}
