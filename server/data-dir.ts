import fs from 'node:fs';
import path from 'node:path';

/** The files of a data directory. */
export function dataFiles(dataDir: string) {
  return {
    database: path.join(dataDir, 'broker.db'),
    key: path.join(dataDir, 'secret.key'),
    lock: path.join(dataDir, 'broker.pid'),
  };
}

/** Owner only: the database holds password hashes, emails and badges; the key opens the sealed secrets. */
export const PRIVATE_DIR_MODE = 0o700;
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates the data directory (0700) or makes an existing one private, with the database files, the copies the
 * broker wrote beside them and the key file (0600): installs made before these modes were set are fixed at start.
 */
export function makeDataDirPrivate(dataDir: string): void {
  fs.mkdirSync(dataDir, { recursive: true, mode: PRIVATE_DIR_MODE });
  fs.chmodSync(dataDir, PRIVATE_DIR_MODE);
  for (const entry of fs.readdirSync(dataDir, { withFileTypes: true })) {
    if (entry.isFile() && /^(broker\.db|secret\.key)/.test(entry.name)) fs.chmodSync(path.join(dataDir, entry.name), PRIVATE_FILE_MODE);
  }
}

export class DataDirBusy extends Error {
  readonly pid: number;

  constructor(pid: number) {
    super(`A broker (process ${pid}) uses this data directory: stop it first`);
    this.pid = pid;
  }
}

/** The process holding the data directory, if it is still alive. */
export function dataDirHolder(dataDir: string): number | undefined {
  const pid = Number.parseInt(fs.readFileSync(dataFiles(dataDir).lock, { encoding: 'utf8', flag: 'a+' }), 10);
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM' ? pid : undefined; // EPERM: alive, someone else's
  }
}

/**
 * Takes the data directory for this process (`broker.pid`), or throws DataDirBusy. A lock left by a process that
 * died is taken over. Returns the release.
 */
export function lockDataDir(dataDir: string): () => void {
  const { lock } = dataFiles(dataDir);
  makeDataDirPrivate(dataDir);
  for (let attempt = 0; ; attempt++) {
    try {
      fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw error;
      const holder = dataDirHolder(dataDir);
      if (holder !== undefined) throw new DataDirBusy(holder);
      fs.rmSync(lock, { force: true }); // stale
    }
  }
  return () => {
    if (fs.readFileSync(lock, { encoding: 'utf8', flag: 'a+' }) === String(process.pid)) fs.rmSync(lock, { force: true });
  };
}
