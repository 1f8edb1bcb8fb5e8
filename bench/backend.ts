// The backends the proxies point at: a Dovecot with 1,000 users (every Maildir hard-links the same
// messages, so they are written once), and the C fake backend for the idle-session figure.
import { chownSync, linkSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { freePort, spawnProcess, startDovecot, type DovecotInstance, type ManagedProcess } from '../test/interop/harness/index.js';

export const USER_PREFIX = 'user';
export const PASS_PREFIX = 'pw';

export const userName = (i: number) => `${USER_PREFIX}${String(i).padStart(4, '0')}`;
export const password = (i: number) => `${PASS_PREFIX}${String(i).padStart(4, '0')}`;
/** The first `n` users, as a Dovecot passwd-file lists them. */
export const benchUsers = (n: number) => Array.from({ length: n }, (_, i) => ({ name: userName(i), password: password(i) }));
/** The load generator's flags that log in as those users. */
export const loadgenUserArgs = (n: number) => ['--users', String(n), '--user-prefix', USER_PREFIX, '--pass-prefix', PASS_PREFIX];

/**
 * Each FETCH through Dovecot's `imap` process copies the message once in user space (`i_stream_nonuls`,
 * 8 KiB at a time). glibc 2.36 makes that copy a `rep movsb`, which AMD Zen cores run several times
 * slower for some placements of source and destination (sourceware bug 30994); each process's heap
 * layout decides the placement, so the backend served a FETCH session at one of two speeds, at random
 * for every target alike (RESULTS.md items 47, 53, 55). With the threshold above any copy Dovecot makes
 * here, glibc copies with vector loops and every session runs at the fast speed. `fetch-state.js
 * --dovecot 'import_environment = TZ'` brings the two speeds back.
 */
export const MEMCPY_TUNABLE = 'glibc.cpu.x86_rep_movsb_threshold=1073741824';

/** The same tuning the proxies get: logins served by long-lived processes, as Dovecot's performance notes
 * advise; mail processes reused up to 100 times (every bench user has the same uid, so reuse is allowed).
 * The backend's processes copy without `rep movsb` (MEMCPY_TUNABLE). */
export const BACKEND_TUNING = `
auth_verbose = no
import_environment = TZ CORE_OUTOFMEM CORE_ERROR LISTEN_PID LISTEN_FDS GLIBC_TUNABLES=${MEMCPY_TUNABLE}
service imap-login {
  service_count = 0
  process_min_avail = 2
  vsz_limit = 1G
}
service pop3-login {
  service_count = 0
  process_min_avail = 2
  vsz_limit = 1G
}
service imap {
  service_count = 100
  process_min_avail = 8
  process_limit = 2048
}
service pop3 {
  service_count = 100
  process_min_avail = 8
  process_limit = 2048
}
`;

const CRLF = '\r\n';

function message(subject: string, bodyBytes: number): Buffer {
  const head = [`From: bench@example.test`, `To: user@example.test`, `Subject: ${subject}`, `Message-ID: <${subject.replace(/\s/g, '-')}@example.test>`, `Date: Tue, 14 Nov 2023 22:13:20 +0000`, 'MIME-Version: 1.0', 'Content-Type: text/plain; charset=us-ascii', '', ''].join(CRLF);
  const line = 'The quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrstuvwxyz.' + CRLF;
  const body = line.repeat(Math.ceil(bodyBytes / line.length)).slice(0, bodyBytes);
  return Buffer.from(head + body.slice(0, body.lastIndexOf(CRLF) + 2), 'latin1');
}

/** Message 1 is the ~1 MB one (FETCH 1 BODY[]); then three small ones. */
export const MESSAGES: ReadonlyArray<{ subject: string; bytes: number }> = [
  { subject: 'large message', bytes: 1024 * 1024 },
  { subject: 'small one', bytes: 600 },
  { subject: 'small two', bytes: 1500 },
  { subject: 'small three', bytes: 3000 },
];

export interface Backend {
  dovecot: DovecotInstance;
  users: number;
  largeMessageBytes: number;
}

/** `extraConfig`: Dovecot settings after the tuning (fetch-state.ts tries cache settings with it). */
export async function startBackend(users: number, extraConfig = ''): Promise<Backend> {
  const dovecot = await startDovecot({
    users: benchUsers(users),
    trustedNetworks: '127.0.0.0/8',
    extraConfig: BACKEND_TUNING + extraConfig,
    startTimeoutMs: 30_000,
  });
  try {
    const largeMessageBytes = populateMaildirs(dovecot, users);
    return { dovecot, users, largeMessageBytes };
  } catch (error) {
    await dovecot.stop();
    throw error;
  }
}

/** Writes each message once and hard-links it into every user's cur/. Names carry S= and W= (CRLF files:
 * the virtual size is the size) so POP3 never reads a message to size it; ascending timestamps keep
 * the large message first. */
export function populateMaildirs(dovecot: DovecotInstance, users: number): number {
  const owner = statSync(dovecot.maildir(userName(0)));
  const sources = MESSAGES.map((m, i) => {
    const raw = message(m.subject, m.bytes);
    const path = join(dovecot.dir, `message-${i}.eml`);
    writeFileSync(path, raw, { mode: 0o600 });
    chownSync(path, owner.uid, owner.gid);
    return { path, name: `${1_700_000_000 + i}.M${i}P1.bench,S=${raw.length},W=${raw.length}:2,S`, size: raw.length };
  });
  for (let u = 0; u < users; u++) {
    const cur = join(dovecot.maildir(userName(u)), 'cur');
    for (const s of sources) linkSync(s.path, join(cur, s.name));
  }
  return sources[0]!.size;
}

export interface FakeBackend {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

export async function startFakeBackend(binary: string): Promise<FakeBackend> {
  const port = await freePort();
  const proc: ManagedProcess = spawnProcess(binary, [String(port)], { stopTimeoutMs: 2000 });
  await proc.waitForOutput(/^listening \d+/m, 5000);
  return { port, pid: proc.pid!, stop: async () => void (await proc.stop()) };
}
