/** Thrown at once, without waiting, when a BoundedRunner's queue is full. */
export class Busy extends Error {
  constructor(what: string) {
    super(`Too many ${what} at once`);
  }
}

export interface BoundedRunner {
  /** Runs `task` when fewer than `concurrency` run, after those queued before it; throws Busy when the queue is full. */
  run<T>(task: () => Promise<T>): Promise<T>;
  readonly running: number;
  readonly queued: number;
}

/**
 * At most `concurrency` tasks at once and `queue` waiting, first come first served; beyond that, callers are
 * refused at once rather than left waiting behind a flood.
 */
export function createBoundedRunner({ concurrency, queue, what }: { concurrency: number; queue: number; what: string }): BoundedRunner {
  let running = 0;
  const waiting: (() => void)[] = [];

  async function run<T>(task: () => Promise<T>): Promise<T> {
    if (running >= concurrency) {
      if (waiting.length >= queue) throw new Busy(what);
      await new Promise<void>((resolve) => waiting.push(resolve));
    } else {
      running++;
    }
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next(); // the slot passes straight to the next in line
      else running--;
    }
  }

  return {
    run,
    get running() {
      return running;
    },
    get queued() {
      return waiting.length;
    },
  };
}
