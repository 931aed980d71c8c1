import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { drizzle, type BetterSQLite3Database } from 'drizzle-orm/better-sqlite3';
import { migrate } from 'drizzle-orm/better-sqlite3/migrator';
import * as schema from './schema.ts';
import { createPrivate, openSqlite } from './sqlite.ts';

export type Db = BetterSQLite3Database<typeof schema>;

export interface Store {
  db: Db;
  /** True when a trivial query answers. */
  ping(): boolean;
  /** Moves everything from the write-ahead log into the database file. */
  checkpoint(): void;
  /** A consistent copy of the database while others use it, through SQLite's online backup API. */
  backup(destination: string): Promise<void>;
  /** The path of the backup written before migrating, when there were migrations to apply to existing data. */
  backupBeforeMigrating: string | undefined;
  close(): void;
}

/**
 * Opens (creating when needed) the SQLite file, and applies every pending migration. Without `migrationsFolder`, a
 * second connection to a database already migrated. `nativeBinding`: as for `openSqlite`.
 */
export function openDatabase(file: string, migrationsFolder?: string, nativeBinding?: string): Store {
  const sqlite = openSqlite(file, nativeBinding);
  const db = drizzle({ client: sqlite, schema });
  let backupBeforeMigrating: string | undefined;
  if (migrationsFolder) {
    backupBeforeMigrating = backUpIfMigrating(sqlite, file, migrationsFolder, nativeBinding);
    migrate(db, { migrationsFolder });
  }
  return {
    db,
    backupBeforeMigrating,
    async backup(destination) {
      createPrivate(destination);
      await sqlite.backup(destination);
      selfContained(destination, nativeBinding);
    },
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

/**
 * Before migrations change a database that holds data, a copy of it goes next to it
 * (`broker.db.before-migration-<n>-<time>`), so an upgrade can be undone by putting the copy back.
 */
function backUpIfMigrating(sqlite: Database.Database, file: string, migrationsFolder: string, nativeBinding: string | undefined): string | undefined {
  const journal = JSON.parse(fs.readFileSync(path.join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
  const hasTable = (name: string) => sqlite.prepare("select 1 from sqlite_master where type = 'table' and name = ?").get(name) !== undefined;
  if (!hasTable('tenants')) return undefined; // a new database: nothing to keep
  const applied = hasTable('__drizzle_migrations')
    ? (sqlite.prepare('select count(*) as n from __drizzle_migrations').get() as { n: number }).n
    : 0;
  if (applied >= journal.entries.length) return undefined;
  const copy = `${file}.before-migration-${applied}-${new Date().toISOString().replace(/[:.]/g, '-')}`;
  createPrivate(copy); // VACUUM INTO takes an empty file
  sqlite.prepare('vacuum into ?').run(copy);
  selfContained(copy, nativeBinding);
  return copy;
}

/** Owner only: the database holds password hashes, emails and badges. */

/** A copy as one file: rollback journal instead of WAL, so no -wal and -shm files appear beside it when opened. */
function selfContained(file: string, nativeBinding: string | undefined): void {
  const copy = new Database(file, { nativeBinding });
  copy.pragma('journal_mode = DELETE');
  copy.close();
}
