import { DEFAULT_LMTP_REPLY_LIMITS, type LmtpReplyLimits } from './limits.js';
import { LineSplitter } from '../../core/index.js';

/** One complete reply from an SMTP/LMTP server, multi-line ones joined (RFC 5321 §4.2). */
export interface LmtpReply {
  /** The three-digit reply code. */
  code: number;
  /** The enhanced status code of the first line (RFC 2034 §4, RFC 3463), e.g. '2.1.5'. */
  enhanced?: string;
  /** The text of each line after the code and separator, the enhanced code removed from each. */
  lines: string[];
  /** The reply as received, line endings included. */
  raw: Buffer;
}

export type LmtpReplyErrorCode = 'replyTooLong' | 'badReply';

/** Always fatal: a backend that sends garbage or too much is abandoned. */
export interface LmtpReplyError {
  kind: 'error';
  code: LmtpReplyErrorCode;
  message: string;
  fatal: true;
}

export type LmtpReplyResult = { kind: 'reply'; reply: LmtpReply } | { kind: 'needMore' } | LmtpReplyError;

const NEED_MORE: LmtpReplyResult = Object.freeze({ kind: 'needMore' });
// Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF (§4.2)
const LINE = /^([2-5][0-9][0-9])([ -]|$)(.*)$/s;
const ENHANCED = /^([245]\.[0-9]{1,3}\.[0-9]{1,3})(?: |$)/;

/** Reads replies from an LMTP server, one per `next()`. No I/O. */
export class LmtpReplyReader {
  readonly limits: LmtpReplyLimits;
  readonly #lines: LineSplitter;
  #pending: { code: number; lines: string[]; raw: Buffer[]; enhanced?: string } | undefined;
  #failed: LmtpReplyError | undefined;

  constructor(limits?: Partial<LmtpReplyLimits>) {
    this.limits = { ...DEFAULT_LMTP_REPLY_LIMITS, ...limits };
    this.#lines = new LineSplitter(this.limits.maxLineBytes);
  }

  feed(chunk: Uint8Array): void {
    this.#lines.feed(chunk);
  }

  get bufferedBytes(): number {
    let held = this.#lines.bufferedBytes;
    for (const b of this.#pending?.raw ?? []) held += b.length;
    return held;
  }

  /** Hands over the unread bytes and forgets them: after STARTTLS they must be dropped (RFC 3207 §4). */
  takeBuffered(): Buffer {
    this.#pending = undefined;
    return this.#lines.takeBuffered();
  }

  next(): LmtpReplyResult {
    if (this.#failed) return this.#failed;
    for (;;) {
      const r = this.#lines.next();
      if (r.kind === 'needMore') return NEED_MORE;
      if (r.kind === 'tooLong') return this.#fail('replyTooLong', 'Reply line too long');
      const m = LINE.exec(r.line.toString('utf8'));
      if (!m) return this.#fail('badReply', 'Invalid reply line');
      const code = Number(m[1]);
      const last = m[2] !== '-';
      let text = m[3]!;
      const e = ENHANCED.exec(text);
      // RFC 2034 §4: the class of the enhanced code matches the reply's.
      const enhanced = e && e[1]![0] === m[1]![0] ? e[1] : undefined;
      if (enhanced !== undefined) text = text.slice(e![0].length);
      const p = this.#pending ?? { code, lines: [], raw: [], ...(enhanced !== undefined ? { enhanced } : {}) };
      if (p.code !== code) return this.#fail('badReply', 'Reply code changed within a multi-line reply');
      p.lines.push(text);
      p.raw.push(r.raw);
      if (p.lines.length > this.limits.maxLines) return this.#fail('replyTooLong', 'Too many reply lines');
      if (!last) {
        this.#pending = p;
        continue;
      }
      this.#pending = undefined;
      const reply: LmtpReply = { code, lines: p.lines, raw: Buffer.concat(p.raw) };
      if (p.enhanced !== undefined) reply.enhanced = p.enhanced;
      return { kind: 'reply', reply };
    }
  }

  #fail(code: LmtpReplyErrorCode, message: string): LmtpReplyError {
    this.#pending = undefined;
    this.#failed = { kind: 'error', code, message, fatal: true };
    return this.#failed;
  }
}
