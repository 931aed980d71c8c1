/**
 * The observation writer's thread: its own connection to the database, so that writing (and SQLite's fsyncs at WAL
 * checkpoints) never holds up the thread that forwards frames. Receives batches, answers what it wrote.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { openDatabase } from '../../db/index.ts';
import { applyObservations, type Observation } from '../../db/transactions.ts';

export type ToWorker = { batch: Observation[] } | { close: true };
export type FromWorker = { written: number; failures: ReturnType<typeof applyObservations> };

const store = openDatabase((workerData as { file: string }).file);

parentPort!.on('message', (message: ToWorker) => {
  if ('close' in message) {
    store.close();
    parentPort!.close();
    return;
  }
  const failures = applyObservations(store.db, message.batch);
  parentPort!.postMessage({ written: message.batch.length, failures } satisfies FromWorker);
});
