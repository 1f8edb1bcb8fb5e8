import { ByteQueue } from '../../core/index.js';
import { CommandParser, sniffTag, type ImapReadErrorCode } from './command-parser.js';
import { CR, LF, trailingLiteral } from './grammar.js';
import { resolveWireLimits, type ImapWireLimits } from './limits.js';
import type { ImapCommand } from './values.js';

export interface ReadError {
  kind: 'error';
  code: ImapReadErrorCode;
  /** The command's tag when it was read and valid; otherwise reply untagged ("* BAD"). */
  tag?: string;
  message: string;
  /** The stream can't be resynchronised: send "* BYE" and close. Every later call returns it again. */
  fatal: boolean;
}

export type ReadResult =
  | { kind: 'command'; command: ImapCommand }
  | { kind: 'needMore' }
  /** A synchronizing literal was announced: send "+ OK\r\n", then its bytes follow. Once per literal. */
  | { kind: 'continue' }
  | ReadError;

const NEED_MORE: ReadResult = Object.freeze({ kind: 'needMore' });
const CONTINUE: ReadResult = Object.freeze({ kind: 'continue' });
/** While skipping a line we keep this many of its last bytes: enough for a "{n+}" header and CR. */
const SKIP_TAIL_BYTES = 24;

type Phase =
  | { kind: 'line' }
  | { kind: 'literal'; size: number }
  /** Dropping the rest of a command line after an error, up to its LF. */
  | { kind: 'skipLine' }
  /** Dropping a LITERAL+ literal inside a line being skipped. */
  | { kind: 'skipLiteral'; left: number }
  | { kind: 'dead'; error: ReadError };

/**
 * Reads IMAP commands from a client (RFC 3501 §2.2.1, §7.5; RFC 7888 LITERAL+). Fed bytes,
 * then pulled until `needMore`; no I/O, no timers. Bare LF is accepted as CRLF, as Dovecot does.
 *
 * Errors, and what the front does with them:
 * - a syntax error, a bad tag, too many args, too deep lists: non-fatal; the rest of the
 *   command line has been (or will be) skipped, including LITERAL+ literals in it.
 * - `lineTooLong`: non-fatal, reported as soon as the limit is passed; the rest of the line
 *   is then dropped without being held. Dovecot's imap-login instead answers
 *   "* BYE Input buffer full, aborting" and closes; the front may do the same by code.
 * - `literalTooLarge`: non-fatal for `{n}` (no "+" is sent, so the client sends no bytes),
 *   fatal for `{n+}`.
 * Memory: one command never occupies more than `maxLineBytes` here. Call `next()` until
 * `needMore` after each `feed()` (or pause the socket), or unread input piles up.
 */
export class ImapCommandReader {
  readonly limits: ImapWireLimits;
  private readonly input = new ByteQueue();
  private phase: Phase = { kind: 'line' };
  private parser: CommandParser;
  /** Bytes of the current command consumed so far, line and literals. */
  private used = 0;
  /** Unread bytes already searched for LF. */
  private scanned = 0;

  constructor(limits?: Partial<ImapWireLimits>) {
    this.limits = resolveWireLimits(limits);
    this.parser = new CommandParser(this.limits);
  }

  feed(chunk: Uint8Array): void {
    this.input.push(chunk);
  }

  /** Unread bytes held, including a partly read command. */
  get bufferedBytes(): number {
    return this.input.size;
  }

  /**
   * Hands over the unread bytes and forgets them: after login they belong to the backend;
   * after STARTTLS they must be dropped (RFC 3501 §6.2.1, no plaintext command injection).
   */
  takeBuffered(): Buffer {
    const out = this.input.takeAll();
    this.scanned = 0;
    return out;
  }

  next(): ReadResult {
    for (;;) {
      const phase = this.phase;
      switch (phase.kind) {
        case 'dead':
          return phase.error;
        case 'line': {
          const r = this.readSegment();
          if (r) return r;
          break;
        }
        case 'literal': {
          if (this.input.size < phase.size) return NEED_MORE;
          const bytes = this.input.take(phase.size);
          this.used += phase.size;
          this.phase = { kind: 'line' };
          // RFC 3501 §9 CHAR8 = %x01-ff: a NUL would also split a SASL PLAIN message built from it
          if (bytes.includes(0)) return this.failCommand('syntax', 'NULs not allowed in literals', { kind: 'skipLine' });
          this.parser.addLiteral(bytes);
          break;
        }
        case 'skipLine': {
          const r = this.skipLine();
          if (r) return r;
          break;
        }
        case 'skipLiteral': {
          const n = Math.min(phase.left, this.input.size);
          this.input.skip(n);
          if (n < phase.left) {
            this.phase = { kind: 'skipLiteral', left: phase.left - n };
            return NEED_MORE;
          }
          this.phase = { kind: 'skipLine' };
          break;
        }
        default: {
          const never: never = phase;
          return never;
        }
      }
    }
  }

  /**
   * One raw line, without its CRLF: a client's SASL response after AUTHENTICATE
   * (RFC 3501 §6.2.2), where "*" cancels. Call it only between commands. A line longer
   * than `maxLineBytes` is fatal, as in Dovecot ("Authentication response too large").
   */
  nextLine(): Buffer | 'needMore' | ReadError {
    if (this.phase.kind === 'dead') return this.phase.error;
    if (this.phase.kind !== 'line' || this.parser.started) {
      return this.die('syntax', 'Raw line requested in the middle of a command');
    }
    const lf = this.findLf();
    if (lf < 0 || lf + 1 > this.limits.maxLineBytes) {
      if (this.input.size > this.limits.maxLineBytes || lf >= 0) return this.die('lineTooLong', 'Line too long');
      return 'needMore';
    }
    const end = lf > 0 && this.input.byteAt(lf - 1) === CR ? lf - 1 : lf;
    const line = Buffer.from(this.input.slice(0, end));
    this.input.skip(lf + 1);
    this.scanned = 0;
    if (line.includes(0)) return { kind: 'error', code: 'syntax', message: 'NULs not allowed in line', fatal: false };
    return line;
  }

  private findLf(): number {
    const lf = this.input.indexOf(LF, this.scanned);
    this.scanned = lf < 0 ? this.input.size : 0;
    return lf;
  }

  /** Reads the next segment of the command: up to CRLF, which may end in a literal header. */
  private readSegment(): ReadResult | undefined {
    const lf = this.findLf();
    const budget = this.limits.maxLineBytes - this.used;
    if (lf < 0) return this.input.size > budget ? this.lineTooLong(-1) : NEED_MORE;
    if (lf + 1 > budget) return this.lineTooLong(lf);
    const end = lf > 0 && this.input.byteAt(lf - 1) === CR ? lf - 1 : lf;
    const line = this.input.slice(0, end);
    const outcome = this.parser.parseSegment(line, budget - (lf + 1));
    if (outcome.kind === 'error') {
      const after = this.afterSkippedLine(line);
      this.input.skip(lf + 1);
      if (outcome.fatal) return this.die(outcome.code, outcome.message);
      // a too-large synchronizing literal was never sent: the next byte starts a new command
      return this.failCommand(outcome.code, outcome.message, outcome.code === 'literalTooLarge' ? { kind: 'line' } : after);
    }
    this.input.skip(lf + 1);
    this.used += lf + 1;
    if (outcome.kind === 'done') {
      const command = this.parser.command();
      this.resetCommand();
      return { kind: 'command', command };
    }
    this.phase = { kind: 'literal', size: outcome.size };
    return outcome.sync ? CONTINUE : undefined;
  }

  /** The line (with its LF at `lf`, or with no LF yet when -1) passes the command's budget. */
  private lineTooLong(lf: number): ReadResult {
    const head = this.input.slice(0, Math.min(this.input.size, this.limits.maxTagBytes + 1, this.limits.maxLineBytes));
    const tag = this.parser.tag ?? sniffTag(head, this.limits);
    let next: Phase = { kind: 'skipLine' };
    this.resetCommand();
    if (lf >= 0) {
      const end = lf > 0 && this.input.byteAt(lf - 1) === CR ? lf - 1 : lf;
      next = this.afterSkippedLine(this.input.slice(0, end));
      this.input.skip(lf + 1);
    } else {
      this.dropAllButTail();
    }
    // a fatal follow-up (a too large LITERAL+ ending the line) comes on the next call
    this.phase = next;
    return tag === undefined
      ? { kind: 'error', code: 'lineTooLong', message: 'IMAP command line too large', fatal: false }
      : { kind: 'error', code: 'lineTooLong', tag, message: 'IMAP command line too large', fatal: false };
  }

  private skipLine(): ReadResult | undefined {
    const lf = this.findLf();
    if (lf < 0) {
      this.dropAllButTail();
      return NEED_MORE;
    }
    const end = lf > 0 && this.input.byteAt(lf - 1) === CR ? lf - 1 : lf;
    const next = this.afterSkippedLine(this.input.slice(Math.max(0, end - SKIP_TAIL_BYTES), end));
    this.input.skip(lf + 1);
    this.phase = next;
    return next.kind === 'dead' ? next.error : undefined;
  }

  /** Where reading goes after a dropped line: into its LITERAL+ literal if it announced one. */
  private afterSkippedLine(line: Buffer): Phase {
    const lit = trailingLiteral(line.subarray(Math.max(0, line.length - SKIP_TAIL_BYTES)));
    // a dropped {n} gets no "+", so the client sends no bytes for it
    if (!lit || lit.sync) return { kind: 'line' };
    if (lit.size > this.limits.maxLiteralBytes) {
      const error: ReadError = { kind: 'error', code: 'literalTooLarge', message: 'Literal size too large', fatal: true };
      return { kind: 'dead', error };
    }
    return lit.size === 0 ? { kind: 'skipLine' } : { kind: 'skipLiteral', left: lit.size };
  }

  private dropAllButTail(): void {
    // one more than the window: the line's CR may be among the kept bytes
    const drop = Math.max(0, this.input.size - SKIP_TAIL_BYTES - 1);
    this.input.skip(drop);
    this.scanned = this.input.size;
  }

  private failCommand(code: ImapReadErrorCode, message: string, next: Phase): ReadError {
    const tag = this.parser.tag;
    this.resetCommand();
    this.phase = next;
    return tag === undefined ? { kind: 'error', code, message, fatal: false } : { kind: 'error', code, tag, message, fatal: false };
  }

  private die(code: ImapReadErrorCode, message: string): ReadError {
    const tag = this.parser.tag;
    const error: ReadError = tag === undefined ? { kind: 'error', code, message, fatal: true } : { kind: 'error', code, tag, message, fatal: true };
    this.phase = { kind: 'dead', error };
    return error;
  }

  private resetCommand(): void {
    this.parser = new CommandParser(this.limits);
    this.used = 0;
    this.scanned = 0;
  }
}
