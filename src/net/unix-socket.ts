import { chmod, chown, lstat, readFile, unlink } from 'node:fs/promises';
import { createConnection } from 'node:net';
import { PosternError } from '../core/index.js';

/** Dovecot's default for a unix_listener: only the owner may connect. */
export const DEFAULT_SOCKET_MODE = '0600';
const PROBE_TIMEOUT_MS = 1000;

/** Whether something accepts connections on the socket file (a live server, not a stale file). */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createConnection({ path });
    const done = (live: boolean) => {
      s.destroy();
      resolve(live);
    };
    s.setTimeout(PROBE_TIMEOUT_MS, () => done(true)); // slow but there: do not steal it
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

/**
 * Makes `path` free to bind, as Dovecot's master does: a socket file nobody answers on
 * (left by a crash) is removed; a live one or a non-socket file is an error.
 */
export async function freeSocketPath(path: string, label: string): Promise<void> {
  let st;
  try {
    st = await lstat(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new PosternError('POSTERN_LISTEN', `cannot use socket path ${path} (${label}): ${(err as Error).message}`, { cause: err });
  }
  if (!st.isSocket()) throw new PosternError('POSTERN_LISTEN', `cannot listen on ${path} (${label}): the file exists and is not a socket`);
  if (await socketAnswers(path)) throw new PosternError('POSTERN_LISTEN', `cannot listen on ${path} (${label}): another process is listening there`);
  await unlink(path).catch(() => {});
}

/** A numeric id, or the id of `name` in /etc/passwd (users) or /etc/group (groups). */
async function resolveId(value: string, file: '/etc/passwd' | '/etc/group'): Promise<number> {
  if (/^\d+$/.test(value)) return Number(value);
  const text = await readFile(file, 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] === value && f[2] !== undefined && /^\d+$/.test(f[2])) return Number(f[2]);
  }
  throw new PosternError('POSTERN_LISTEN', `no ${file === '/etc/passwd' ? 'user' : 'group'} named ${JSON.stringify(value)} in ${file}`);
}

/** Sets the socket file's mode, then its owner and group when given. */
export async function applySocketPermissions(path: string, opts: { mode?: string; user?: string; group?: string }, label: string): Promise<void> {
  try {
    await chmod(path, parseInt(opts.mode ?? DEFAULT_SOCKET_MODE, 8));
    if (opts.user !== undefined || opts.group !== undefined) {
      const uid = opts.user !== undefined ? await resolveId(opts.user, '/etc/passwd') : -1;
      const gid = opts.group !== undefined ? await resolveId(opts.group, '/etc/group') : -1;
      await chown(path, uid, gid);
    }
  } catch (err) {
    if (err instanceof PosternError) throw err;
    throw new PosternError('POSTERN_LISTEN', `cannot set the permissions of ${path} (${label}): ${(err as Error).message}`, { cause: err });
  }
}
