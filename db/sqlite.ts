import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';

/**
 * One connection to the SQLite file (created when needed), set up as every connection of the broker is: WAL, foreign
 * keys, a busy timeout, and readable by the broker's user only (0600, its directory 0700). Without the ORM: the observation writer's thread uses this alone (db/observations.ts).
 * `nativeBinding`: better-sqlite3's addon when it is not where the package looks (the single executable,
 * server/paths.ts); the database layer does not know where files live.
 */
export function openSqlite(file: string, nativeBinding?: string): Database.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  createPrivate(file);
  const sqlite = new Database(file, { nativeBinding });
  sqlite.pragma('journal_mode = WAL');
  // SQLite gives the -wal and -shm files the database file's mode; these were made before it had 0600.
  for (const companion of [`${file}-wal`, `${file}-shm`]) if (fs.existsSync(companion)) fs.chmodSync(companion, PRIVATE_MODE);
  sqlite.pragma('synchronous = NORMAL'); // WAL: durable at checkpoints, no fsync per commit
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  return sqlite;
}

const PRIVATE_MODE = 0o600;

/** Creates `file` empty when missing, and makes it readable and writable by its owner only (it holds hashes and badges). */
export function createPrivate(file: string): void {
  fs.closeSync(fs.openSync(file, 'a', PRIVATE_MODE));
  fs.chmodSync(file, PRIVATE_MODE);
}
