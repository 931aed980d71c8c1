import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { paths } from '../server/paths.ts';

/**
 * One connection to the SQLite file (created when needed), set up as every connection of the broker is: WAL, foreign
 * keys, a busy timeout. Without the ORM: the observation writer's thread uses this alone (db/transactions.ts).
 */
export function openSqlite(file: string): Database.Database {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new Database(file, { nativeBinding: paths.nativeBinding });
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL'); // WAL: durable at checkpoints, no fsync per commit
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  return sqlite;
}
