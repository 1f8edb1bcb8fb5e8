// This process running out of file descriptors: when it last did (an accept or a backend connection
// refused for want of one), and whether it has some to spare again, read from /proc (Linux). A
// cluster worker that ran out leaves new connections to the others meanwhile (process.accept: gather).
//
// A process that accepts natively keeps a few descriptors back (open on /dev/null). Out of
// descriptors, it lets them go and stops accepting: the logins it has accepted, which still need a
// backend connection each, get them rather than new clients. It accepts again once it can take the
// reserve back, tried every RETRY_MS.
import { closeSync, openSync, readdirSync, readFileSync } from 'node:fs';

/** Descriptors kept back for the logins under way when the process runs out. */
export const RESERVE = 32;
const RETRY_MS = 100;

let exhaustedAt = 0;
let exhausted = false;
const reserve: number[] = [];
const pausers = new Set<(paused: boolean) => void>();

/** Takes the reserve back, as far as there are descriptors for it; whether it is whole. */
function takeReserve(): boolean {
  try {
    while (reserve.length < RESERVE) reserve.push(openSync('/dev/null', 'r'));
    return true;
  } catch {
    return false;
  }
}

function retry(): void {
  setTimeout(() => {
    if (!takeReserve()) return retry();
    exhausted = false;
    for (const p of pausers) p(false);
  }, RETRY_MS).unref();
}

/** An accept or a connection failed with EMFILE or ENFILE: the reserve goes to the logins under way, and accepting stops until it is back. */
export function outOfDescriptors(): void {
  exhaustedAt = Date.now();
  if (exhausted) return;
  exhausted = true;
  for (const fd of reserve.splice(0)) closeSync(fd);
  for (const p of pausers) p(true);
  retry();
}

/**
 * `pause(true)` when the process runs out of descriptors, `pause(false)` once it has taken its reserve
 * back: for a listener, which must not accept meanwhile. The first one makes the reserve. Returns
 * the function that stops the calls.
 */
export function whileOutOfDescriptors(pause: (paused: boolean) => void): () => void {
  if (!exhausted) takeReserve();
  pausers.add(pause);
  if (exhausted) pause(true);
  return () => pausers.delete(pause);
}

/** When this process last ran out of descriptors (Date.now(); 0: never). */
export const outOfDescriptorsAt = (): number => exhaustedAt;

export const isOutOfDescriptors = (code: string | undefined): boolean => code === 'EMFILE' || code === 'ENFILE';

/** A socket call failed with `code`: when for want of descriptors, the process is out of them (outOfDescriptors). */
export function noteSocketFailure(code: string | undefined): void {
  if (isOutOfDescriptors(code)) outOfDescriptors();
}

/** This process's open-file limit (the soft one, which Node raises to the hard one at start); undefined when unlimited or not known. */
export function openFileLimit(): number | undefined {
  try {
    return limitOf(readFileSync('/proc/self/limits', 'utf8'));
  } catch {
    return undefined;
  }
}

function limitOf(limits: string): number | undefined {
  const limit = Number(/^Max open files\s+(\d+)/m.exec(limits)?.[1]);
  return Number.isFinite(limit) && limit > 0 ? limit : undefined;
}

/**
 * True when the reserve is back and at least a sixty-fourth of the open-file limit (and at least 64)
 * is free, or when that cannot be told (no /proc, no limit). Reads the descriptor table: about 9 ms
 * at 19,000 open, so it is for a process that ran out, not for every connection.
 */
export function descriptorsToSpare(): boolean {
  if (exhausted) return false;
  try {
    const limit = limitOf(readFileSync('/proc/self/limits', 'utf8'));
    if (limit === undefined) return true;
    const open = readdirSync('/proc/self/fd').length;
    return limit - open >= Math.max(64, Math.ceil(limit / 64));
  } catch (err) {
    // Not even one for the directory: none to spare.
    return !isOutOfDescriptors((err as NodeJS.ErrnoException).code);
  }
}

/**
 * Whether this process is out of descriptors, asked four times a second (a cluster worker's load
 * report). It is from the call after an accept or a backend connection failed for want of them
 * (`failedAt` moved: Date.now() of the last failure) until `toSpare` says it has some again, asked
 * once a second (every fourth call).
 */
export function descriptorWatch(failedAt: () => number = outOfDescriptorsAt, toSpare: () => boolean = descriptorsToSpare): () => boolean {
  let full = false;
  let seen = failedAt();
  let reports = 0;
  return () => {
    const at = failedAt();
    if (at > seen) {
      seen = at;
      full = true;
      reports = 0;
    } else if (full && ++reports % 4 === 0 && toSpare()) {
      full = false;
    }
    return full;
  };
}
