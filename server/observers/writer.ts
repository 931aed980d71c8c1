import { once } from 'node:events';
import { Worker } from 'node:worker_threads';
import type { Logger } from 'pino';
import { paths } from '../paths.ts';
import type { Captured, SkipReason } from './read.ts';
import type { BatchWritten, FromWorker, ToWorker, WriterWorkerData } from './writer-worker.ts';

/** Why a captured frame was accepted by no one or written by no one. */
export type DropReason = 'queue_full' | 'write_failed';

/** What becomes of the frames pushed: every accepted frame ends up written, skipped or dropped, exactly once. */
export interface WriterEvents {
  written?(frames: number, samples: number): void;
  dropped?(reason: DropReason, frames: number): void;
  skipped?(action: string, reason: SkipReason, frames: number): void;
}

export interface WriterOptions {
  /** Bound of what is pending (queued or being written): the frames' text and OVERHEAD_BYTES each. */
  maxBytes?: number;
  /** What is queued goes to the worker at least this often: all that `kill -9` can lose of a writer keeping up. */
  intervalMs?: number;
  /** Frames per batch; a batch is one transaction. */
  maxBatch?: number;
  events?: WriterEvents;
  /** Test seam: the first worker exits halfway through this batch (writer-worker.ts). */
  exitInBatch?: number;
}

export interface Writer {
  /** Queues a captured frame; false when it was shed because the pending work is at its bound. Never blocks. */
  push(captured: Captured): boolean;
  /** Frames not written yet (queued, or being written). */
  pending(): number;
  pendingBytes(): number;
  /** Why the writer is not keeping up (its thread is down, or the pending work is over the high-water mark). */
  problem(): string | undefined;
  /** Sends everything queued to be written now. */
  flush(): void;
  /** Resolves once everything pushed so far is written. */
  drained(): Promise<void>;
  /**
   * Resolves once what was pushed before this call is written (or dropped), sending it now; frames pushed later do not
   * keep it waiting (as `drained` would under steady traffic). For readers of the database such as dispatch.
   */
  flushed(): Promise<void>;
  /** Writes everything pending, then stops the worker. */
  close(): Promise<void>;
}

/** What a queued frame costs beyond its text: the object, its strings' headers, the session's facts. */
export const OVERHEAD_BYTES = 128;
/** A batch also closes at this size, so that one batch never holds much of the bound. */
const MAX_BATCH_BYTES = 4 * 1024 * 1024;
/** Batches handed to the worker and not answered yet: one being written, one waiting, so that it never idles. */
const MAX_IN_FLIGHT = 2;
/** Not ready (/readyz) above this share of the bound. */
const HIGH_WATER = 0.75;
const WARN_EVERY_MS = 60_000;
/** A batch that was being written when the worker died this many times is dropped (counted, logged). */
const MAX_CRASHES = 3;
/** Pauses before starting a worker that died again: the n-th restart in a row waits the n-th (then the last). */
const RESTART_DELAYS_MS = [250, 500, 1000, 2000, 5000];
/** Failures logged per batch; the rest are counted. */
const FAILURES_LOGGED = 10;
/** flushed() callers waiting at once; past this, the oldest is let go. */
const MAX_FLUSH_WAITERS = 1_000;
/** The worker's own heap: what it holds is a few batches, never the bound. */
const WORKER_HEAP_MB = 64;

interface Batch {
  seq: number;
  items: Captured[];
  bytes: number;
  /** Times the worker died while this was the batch it was writing. */
  crashes: number;
}

const sizeOf = (c: Captured) => c.call.length + (c.result?.length ?? 0) + c.identity.length + OVERHEAD_BYTES;

/**
 * Writes captured frames in batches, one SQLite transaction each, at least every `intervalMs` and sooner when a
 * batch is full. The writing (and the parsing) happens in a worker thread with its own connection: the thread that
 * forwards frames only queues strings, so a slow disk never delays a frame.
 *
 * Bounded: past `maxBytes` pending, new frames are shed (counted, and logged at most once a minute) rather than
 * spilled to disk: when SQLite cannot keep up, a spill file would only move the loss later while competing for the
 * same disk, and the CPMS has received every frame regardless. A worker that dies is started again and the batches
 * it had are sent again (observations are idempotent).
 */
export function createWriter(databaseFile: string, log: Logger, options: WriterOptions = {}): Writer {
  const { maxBytes = 64 * 1024 * 1024, intervalMs = 1000, maxBatch = 5000, events = {} } = options;
  /** Batches not sent yet, oldest first; the last one is still filling. */
  const queue: Batch[] = [];
  /** Batches sent and not answered, in order. */
  const inFlight = new Map<number, Batch>();
  let seq = 0;
  let bytes = 0;
  let count = 0;
  let worker: Worker | undefined;
  /** The worker has opened its connection. */
  let up = false;
  let restarts = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let closed = false;
  let draining = false;
  let waiting: (() => void)[] = [];
  let soon: NodeJS.Immediate | undefined;
  let shed = { since: 0, lastWarnAt: -Infinity };
  /** Batches settle in order: every batch up to this seq is written or dropped. */
  let settledUpTo = -1;
  /** flushed() callers, each waiting for the batch that was open when it called; one per caller, settled in order. */
  let flushWaiters: { seq: number; resolve: () => void }[] = [];

  function start(exitInBatch?: number) {
    restartTimer = undefined;
    const w = new Worker(paths.writerWorker, {
      workerData: { file: databaseFile, exitInBatch } satisfies WriterWorkerData,
      resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB },
    });
    worker = w;
    w.on('message', (message: FromWorker) => {
      if ('ready' in message) up = true;
      else answered(message);
    });
    w.on('error', (error) => log.error({ err: error }, 'the observation writer failed'));
    w.once('exit', (code) => {
      if (worker !== w) return;
      worker = undefined;
      up = false;
      if (closed) return;
      const delay = RESTART_DELAYS_MS[Math.min(restarts++, RESTART_DELAYS_MS.length - 1)]!;
      log.error({ event: 'writer.restarting', code, pending: count, inDelayMs: delay }, 'the observation writer stopped; starting it again');
      restartTimer = setTimeout(start, delay);
    });
    // What the previous worker had not answered goes again, in order; the batch it was writing may be what killed it.
    const resend = [...inFlight.values()];
    inFlight.clear();
    const first = resend[0];
    if (first && ++first.crashes >= MAX_CRASHES) {
      resend.shift();
      settle(first);
      events.dropped?.('write_failed', first.items.length);
      log.error({ event: 'writer.batch_dropped', frames: first.items.length, crashes: first.crashes }, 'observations dropped: the writer died on them every time');
    }
    for (const batch of resend) post(batch);
    flush(true);
  }

  function post(batch: Batch) {
    inFlight.set(batch.seq, batch);
    worker!.postMessage({ seq: batch.seq, batch: batch.items } satisfies ToWorker);
  }

  /** Sends queued batches while fewer than MAX_IN_FLIGHT are out: all of them, or only those already full. */
  function flush(all: boolean) {
    if (soon) clearImmediate(soon);
    soon = undefined;
    if (!worker) return;
    while (inFlight.size < MAX_IN_FLIGHT && queue.length > (all || draining ? 0 : 1)) post(queue.shift()!);
  }

  function settle(batch: Batch) {
    bytes -= batch.bytes;
    count -= batch.items.length;
    settledUpTo = Math.max(settledUpTo, batch.seq);
    if (flushWaiters.length > 0) {
      const done = flushWaiters.filter((w) => w.seq <= settledUpTo);
      flushWaiters = flushWaiters.filter((w) => w.seq > settledUpTo);
      for (const w of done) w.resolve();
    }
    if (count === 0) {
      draining = false;
      for (const resolve of waiting) resolve();
      waiting = [];
    }
  }

  function answered(answer: BatchWritten) {
    const batch = inFlight.get(answer.seq);
    if (!batch) return; // answered by a worker that died since: sent again
    inFlight.delete(answer.seq);
    restarts = 0;
    events.written?.(answer.written, answer.samples);
    for (const s of answer.skipped) events.skipped?.(s.action, s.reason, s.count);
    if (answer.failed.length > 0) {
      events.dropped?.('write_failed', answer.failed.length);
      for (const failure of answer.failed.slice(0, FAILURES_LOGGED)) log.error(failure, 'observation not written');
      if (answer.failed.length > FAILURES_LOGGED) log.error({ more: answer.failed.length - FAILURES_LOGGED }, 'more observations not written');
    }
    settle(batch);
    flush(false);
  }

  function shedOne() {
    events.dropped?.('queue_full', 1);
    shed.since++;
    const now = Date.now();
    if (now - shed.lastWarnAt >= WARN_EVERY_MS) {
      log.warn(
        { event: 'observations.shed', dropped: shed.since, pendingBytes: bytes, maxBytes },
        'observations dropped: the writer is not keeping up (OBSERVATION_QUEUE_MAX_BYTES reached)',
      );
      shed = { since: 0, lastWarnAt: now };
    }
  }

  start(options.exitInBatch);
  const timer = setInterval(() => flush(true), intervalMs).unref();

  const writer: Writer = {
    push(captured) {
      const size = sizeOf(captured);
      if (bytes + size > maxBytes) {
        shedOne();
        return false;
      }
      let open = queue.at(-1);
      if (!open || open.items.length >= maxBatch || (open.items.length > 0 && open.bytes + size > MAX_BATCH_BYTES)) {
        open = { seq: seq++, items: [], bytes: 0, crashes: 0 };
        queue.push(open);
        if (queue.length > 1) soon ??= setImmediate(flush, false); // a full batch is waiting
      }
      open.items.push(captured);
      open.bytes += size;
      bytes += size;
      count++;
      return true;
    },
    pending: () => count,
    pendingBytes: () => bytes,
    problem() {
      if (!up) return 'the observation writer is down';
      if (bytes >= maxBytes * HIGH_WATER) return 'the observations pending are over their high-water mark';
      return undefined;
    },
    flush: () => flush(true),
    drained() {
      if (count === 0) return Promise.resolve();
      draining = true;
      flush(true);
      return new Promise((resolve) => waiting.push(resolve));
    },
    flushed() {
      const last = queue.at(-1) ?? [...inFlight.values()].at(-1);
      if (count === 0 || !last || last.seq <= settledUpTo) return Promise.resolve();
      flush(true);
      // Bounded: while the worker is down, callers that gave up waiting must not pile up.
      if (flushWaiters.length >= MAX_FLUSH_WAITERS) flushWaiters.shift()!.resolve();
      return new Promise((resolve) => flushWaiters.push({ seq: last.seq, resolve }));
    },
    async close() {
      clearInterval(timer);
      await writer.drained();
      closed = true;
      clearTimeout(restartTimer);
      const w = worker;
      if (!w) return;
      w.postMessage({ close: true } satisfies ToWorker);
      await once(w, 'exit');
    },
  };
  return writer;
}
