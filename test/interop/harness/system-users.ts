// System accounts for peers that refuse to run as root (PostgreSQL) or drop to one (MariaDB).
import { readFileSync } from 'node:fs';

export interface SystemUser {
  name: string;
  uid: number;
  gid: number;
}

export const isRoot = (): boolean => process.getuid?.() === 0;

/** The first of `names` in /etc/passwd, or undefined. */
export function systemUser(...names: string[]): SystemUser | undefined {
  let lines: string[][];
  try {
    lines = readFileSync('/etc/passwd', 'utf8')
      .split('\n')
      .filter((l) => l !== '' && !l.startsWith('#'))
      .map((l) => l.split(':'));
  } catch {
    return undefined;
  }
  for (const name of names) {
    const f = lines.find((l) => l[0] === name);
    if (f !== undefined) return { name, uid: Number(f[2]), gid: Number(f[3]) };
  }
  return undefined;
}
