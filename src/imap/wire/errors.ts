import { PosternError } from '../../core/index.js';

/**
 * Thrown by the serializer for values IMAP can't carry: a bug in the caller, who should
 * have refused such a value where it entered. Codes are listed in docs/errors.md.
 *  - IMAP_WIRE_UNENCODABLE: NUL in a string (RFC 3501 §9 CHAR8 excludes it), a bad atom or tag.
 *  - IMAP_WIRE_SYNC_LITERAL: `formatCommand` needs a synchronizing literal; use `formatCommandParts`.
 */
export class ImapWireError extends PosternError {
  constructor(code: 'IMAP_WIRE_UNENCODABLE' | 'IMAP_WIRE_SYNC_LITERAL', message: string) {
    super(code, message);
    this.name = 'ImapWireError';
  }
}
