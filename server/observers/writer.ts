import type { Logger } from 'pino';
import type { Db } from '../../db/index.ts';
import { applyObservation, type Observation } from '../../db/transactions.ts';

export interface Writer {
  push(observation: Observation): void;
  /** Observations waiting to be written. */
  pending(): number;
  /** Writes what is waiting now. */
  flush(): void;
  /** Writes what is waiting and stops. */
  close(): void;
}

/**
 * Writes observations in batches, one SQLite transaction each, at least every `intervalMs` and sooner when
 * `maxBatch` are waiting, never from the forwarding path itself: a frame is forwarded before anything it carries is
 * written. A batch that fails is written one observation at a time, so one bad observation loses only itself.
 */
export function createWriter(db: Db, log: Logger, { intervalMs = 1000, maxBatch = 2000 } = {}): Writer {
  let queue: Observation[] = [];
  let soon: NodeJS.Immediate | undefined;

  function flush() {
    if (soon) clearImmediate(soon);
    soon = undefined;
    if (queue.length === 0) return;
    const batch = queue;
    queue = [];
    try {
      db.transaction(() => {
        for (const observation of batch) applyObservation(db, observation);
      });
    } catch (error) {
      log.error({ err: error, observations: batch.length }, 'a batch of observations failed; writing them one by one');
      for (const observation of batch) {
        try {
          db.transaction(() => applyObservation(db, observation));
        } catch (single) {
          log.error({ err: single, kind: observation.kind, tenantId: observation.tenantId, identity: observation.identity }, 'observation not written');
        }
      }
    }
  }

  const timer = setInterval(flush, intervalMs).unref();
  return {
    push(observation) {
      queue.push(observation);
      if (queue.length >= maxBatch) soon ??= setImmediate(flush);
    },
    pending: () => queue.length,
    flush,
    close() {
      clearInterval(timer);
      flush();
    },
  };
}
