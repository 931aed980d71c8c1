import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import type { Observation } from '../../db/transactions.ts';
import { paths } from '../paths.ts';
import type { FromWorker, ToWorker } from './writer-worker.ts';

export interface Writer {
  push(observation: Observation): void;
  /** Observations not written yet (queued, or being written). */
  pending(): number;
  /** Sends what is queued to be written now. */
  flush(): void;
  /** Resolves once everything pushed so far is written. */
  drained(): Promise<void>;
  /** Writes what is waiting and stops the worker. */
  close(): Promise<void>;
}

/**
 * Writes observations in batches, one SQLite transaction each, at least every `intervalMs` and sooner when
 * `maxBatch` are waiting. The writing happens in a worker thread with its own connection: the thread that forwards
 * frames only queues plain objects, so a slow disk never delays a frame.
 */
export function createWriter(databaseFile: string, log: Logger, { intervalMs = 1000, maxBatch = 2000 } = {}): Writer {
  const worker = new Worker(paths.writerWorker, { workerData: { file: databaseFile } });
  let queue: Observation[] = [];
  let inFlight = 0;
  let waiting: (() => void)[] = [];
  let soon: NodeJS.Immediate | undefined;

  worker.on('message', ({ written, failures }: FromWorker) => {
    inFlight -= written;
    for (const failure of failures) log.error(failure, 'observation not written');
    if (inFlight === 0 && queue.length === 0) {
      for (const resolve of waiting) resolve();
      waiting = [];
    }
  });
  worker.on('error', (error) => log.error({ err: error }, 'the observation writer failed'));

  function flush() {
    if (soon) clearImmediate(soon);
    soon = undefined;
    if (queue.length === 0) return;
    inFlight += queue.length;
    worker.postMessage({ batch: queue } satisfies ToWorker);
    queue = [];
  }

  const timer = setInterval(flush, intervalMs).unref();
  const writer: Writer = {
    push(observation) {
      queue.push(observation);
      if (queue.length >= maxBatch) soon ??= setImmediate(flush);
    },
    pending: () => queue.length + inFlight,
    flush,
    drained() {
      flush();
      return inFlight === 0 ? Promise.resolve() : new Promise((resolve) => waiting.push(resolve));
    },
    async close() {
      clearInterval(timer);
      await writer.drained();
      worker.postMessage({ close: true } satisfies ToWorker);
      await once(worker, 'exit');
    },
  };
  return writer;
}
