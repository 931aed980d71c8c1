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
  fs.mkdirSync(dataDir, { recursive: true });
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
