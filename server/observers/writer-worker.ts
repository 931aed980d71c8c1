/**
 * The observation writer's thread: reads the captured frames (JSON, zod, samples) and writes what they say through
 * its own connection, one transaction per batch, so that neither parsing nor SQLite (its fsyncs at WAL checkpoints
 * included) ever holds up the thread that forwards frames. Loads better-sqlite3, zod and the payload schemas only:
 * no ORM, no schema module (its heap counts toward the process's memory).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openSqlite } from '../../db/sqlite.ts';
import { createObservationStore, type Failure, type Observation } from '../../db/observations.ts';
import { read, type Captured, type SkipReason } from './read.ts';
import { paths } from '../paths.ts';

export interface WriterWorkerData {
  file: string;
  /** Test seam: exit the thread halfway through the transaction of this batch (1: the first one it receives). */
  exitInBatch?: number;
}
export type ToWorker = { seq: number; batch: Captured[] } | { close: true };
/** Once when the connection is open, then one answer per batch. */
export type FromWorker = { ready: true } | BatchWritten;
/** Every captured frame of a batch is written, skipped or failed. */
export interface BatchWritten {
  seq: number;
  written: number;
  samples: number;
  skipped: { action: string; reason: SkipReason; count: number }[];
  failed: Failure[];
}

const { file, exitInBatch } = workerData as WriterWorkerData;
const sqlite = openSqlite(file, paths.nativeBinding);
// Checkpoint the write-ahead log every ~40 MB rather than every ~4 MB: pages that batch after batch rewrite (the
// indexes of meter_samples) are then copied into the database once instead of again and again.
sqlite.pragma('wal_autocheckpoint = 10000');
let batches = 0;
let halfway = -1;
const store = createObservationStore(sqlite, {
  afterUnit(index) {
    if (batches === exitInBatch && index === halfway) process.exit(1);
  },
});

const byStation = (a: Observation[], b: Observation[]) =>
  a[0]!.tenantId - b[0]!.tenantId || (a[0]!.identity < b[0]!.identity ? -1 : a[0]!.identity > b[0]!.identity ? 1 : 0);

parentPort!.on('message', (message: ToWorker) => {
  if ('close' in message) {
    sqlite.close();
    parentPort!.close();
    return;
  }
  batches++;
  const units: Observation[][] = [];
  const skipped = new Map<string, { action: string; reason: SkipReason; count: number }>();
  let skippedCount = 0;
  for (const captured of message.batch) {
    const reading = read(captured);
    if ('skipped' in reading) {
      const key = `${captured.action}\0${reading.skipped}`;
      const entry = skipped.get(key) ?? { action: captured.action, reason: reading.skipped, count: 0 };
      entry.count++;
      skipped.set(key, entry);
      skippedCount++;
    } else if (reading.observations.length > 0) {
      units.push(reading.observations);
    }
  }
  // One station's frames together, in their order (the sort is stable; stations do not affect one another): its
  // samples then go to neighbouring places of each index, which SQLite finds warm.
  units.sort(byStation);
  halfway = Math.floor(units.length / 2);
  const { samples, failed } = store.write(units);
  parentPort!.postMessage({
    seq: message.seq,
    written: message.batch.length - skippedCount - failed.length,
    samples,
    skipped: [...skipped.values()],
    failed: failed.map((f) => f.failure),
  } satisfies FromWorker);
});
parentPort!.postMessage({ ready: true } satisfies FromWorker);
