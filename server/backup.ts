import fs from 'node:fs';
import Database from 'better-sqlite3';
import { openDatabase } from '../db/index.ts';
import { dataFiles, lockDataDir } from './data-dir.ts';
import { paths } from './paths.ts';

/**
 * A consistent copy of the database while the broker may be running (SQLite's online backup), and of the key file
 * beside it as `<destination>.key`: the sealed secrets in the copy open only with that key.
 */
export async function backup(dataDir: string, destination: string): Promise<{ database: string; key: string | undefined }> {
  const files = dataFiles(dataDir);
  if (!fs.existsSync(files.database)) throw new Error(`No database in ${dataDir}`);
  const store = openDatabase(files.database, undefined, paths.nativeBinding);
  try {
    await store.backup(destination);
  } finally {
    store.close();
  }
  if (!fs.existsSync(files.key)) return { database: destination, key: undefined };
  const key = `${destination}.key`;
  fs.copyFileSync(files.key, key);
  fs.chmodSync(key, 0o600);
  return { database: destination, key };
}

/**
 * Puts a backup in place of the data directory's database (and its key, from `<source>.key` when present), keeping
 * what was there as `….before-restore-<time>`. Refused while a broker uses the directory.
 */
export function restore(dataDir: string, source: string): { kept: string[] } {
  checkIsBrokerDatabase(source);
  const release = lockDataDir(dataDir);
  try {
    const files = dataFiles(dataDir);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const kept: string[] = [];
    if (fs.existsSync(files.database)) {
      const previous = `${files.database}.before-restore-${stamp}`;
      const current = openDatabase(files.database, undefined, paths.nativeBinding);
      current.checkpoint();
      current.close();
      fs.renameSync(files.database, previous);
      kept.push(previous);
    }
    for (const leftover of [`${files.database}-wal`, `${files.database}-shm`]) fs.rmSync(leftover, { force: true });
    fs.copyFileSync(source, files.database);
    fs.chmodSync(files.database, 0o600);
    if (fs.existsSync(`${source}.key`)) {
      if (fs.existsSync(files.key)) {
        fs.renameSync(files.key, `${files.key}.before-restore-${stamp}`);
        kept.push(`${files.key}.before-restore-${stamp}`);
      }
      fs.copyFileSync(`${source}.key`, files.key);
      fs.chmodSync(files.key, 0o600);
    }
    return { kept };
  } finally {
    release();
  }
}

function checkIsBrokerDatabase(file: string): void {
  let sqlite: Database.Database | undefined;
  try {
    sqlite = new Database(file, { readonly: true, fileMustExist: true, nativeBinding: paths.nativeBinding });
    sqlite.prepare('select count(*) from tenants').get();
  } catch (error) {
    throw new Error(`${file} is not a backup of the broker's database (${(error as Error).message})`);
  } finally {
    sqlite?.close();
  }
}
