import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import * as schema from './schema.ts';

export type Db = BetterSQLite3Database<typeof schema>;

export interface Store {
  db: Db;
  /** True when a trivial query answers. */
  ping(): boolean;
  /** Moves everything from the write-ahead log into the database file. */
  checkpoint(): void;
  close(): void;
}

/**
 * Opens (creating when needed) the SQLite file, and applies every pending migration. Without `migrationsFolder`, a
 * second connection to a database already migrated (the observation writer's, in its worker thread).
 */
export function openDatabase(file: string, migrationsFolder?: string): Store {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL'); // WAL: durable at checkpoints, no fsync per commit
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  const db = drizzle({ client: sqlite, schema });
  if (migrationsFolder) migrate(db, { migrationsFolder });
  return {
    db,
    ping() {
      try {
        return sqlite.prepare('select 1 as ok').get() !== undefined;
      } catch {
        return false;
      }
    },
    checkpoint: () => void sqlite.pragma('wal_checkpoint(TRUNCATE)'),
    close: () => sqlite.close(),
  };
}
