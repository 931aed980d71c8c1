import fs from 'node:fs';
import path from 'node:path';

/** The newest modification time under `entry`; directories count too, so that deleting a file is a change. */
export function newest(entry: string): number {
  const stat = fs.statSync(entry, { throwIfNoEntry: false });
  if (!stat) return 0;
  if (!stat.isDirectory()) return stat.mtimeMs;
  return fs
    .readdirSync(entry, { recursive: true, encoding: 'utf8' })
    .reduce((latest, name) => Math.max(latest, fs.statSync(path.join(entry, name)).mtimeMs), stat.mtimeMs);
}
