import { randomBytes } from 'node:crypto';

const prefix = randomBytes(6);
let counter = 0;

/** 16 base64 characters like Dovecot's session ids; unique per process without a syscall per login. */
export function newSessionId(): string {
  const b = Buffer.allocUnsafe(12);
  prefix.copy(b, 0);
  b.writeUInt32BE(process.pid & 0xffff, 6);
  counter = (counter + 1) >>> 0;
  b.writeUInt16BE(counter >>> 16, 8);
  b.writeUInt16BE(counter & 0xffff, 10);
  return b.toString('base64');
}
