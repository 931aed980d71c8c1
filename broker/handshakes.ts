import { Refusal } from './refusals.ts';

/** Releases a handshake slot; calling it again does nothing. */
export type Release = () => void;

/** Stations refused for a full queue are told to come back after a random 5 to 15 s, so they do not return at once. */
const RETRY_AFTER_S = { min: 5, max: 15 };

/**
 * At most `concurrency` CPMS handshakes in flight at once, and at most `queueLimit` stations waiting for one, first
 * come first served. A station beyond that is refused at once (BUSY, 503 with `Retry-After`), so that a broker
 * restart never sends thousands of handshakes to a CPMS at the same moment. A station that goes away while it waits
 * leaves the queue.
 */
export class HandshakeLimiter {
  readonly #concurrency: number;
  readonly #queueLimit: number;
  /** Waiting stations in arrival order (a Set keeps insertion order and forgets one in O(1)). */
  readonly #queue = new Set<() => void>();
  #active = 0;

  constructor(concurrency: number, queueLimit: number) {
    this.#concurrency = concurrency;
    this.#queueLimit = queueLimit;
  }

  /** Handshakes in flight. */
  get active(): number {
    return this.#active;
  }

  /** Stations waiting for a slot. */
  get queued(): number {
    return this.#queue.size;
  }

  /**
   * Resolves with a release once a slot is free. Throws BUSY at once when the queue is full; rejects when `signal`
   * aborts while waiting (the station went away: nobody is left to answer).
   */
  acquire(signal: AbortSignal): Promise<Release> {
    if (signal.aborted) return Promise.reject(new Refusal('CPMS_UNREACHABLE', 'the station went away'));
    if (this.#active < this.#concurrency) {
      this.#active++;
      return Promise.resolve(this.#releaser());
    }
    if (this.#queue.size >= this.#queueLimit) {
      const seconds = RETRY_AFTER_S.min + Math.floor(Math.random() * (RETRY_AFTER_S.max - RETRY_AFTER_S.min + 1));
      throw new Refusal('BUSY', { detail: `${this.#queue.size} stations are waiting for the CPMS`, headers: { 'Retry-After': String(seconds) } });
    }
    return new Promise<Release>((resolve, reject) => {
      const onAbort = () => {
        this.#queue.delete(granted);
        reject(new Refusal('CPMS_UNREACHABLE', 'the station went away while waiting'));
      };
      const granted = () => {
        signal.removeEventListener('abort', onAbort);
        resolve(this.#releaser());
      };
      this.#queue.add(granted);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  #releaser(): Release {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#queue.values().next();
      if (next.done) {
        this.#active--;
      } else {
        this.#queue.delete(next.value); // the slot passes straight to the next station
        next.value();
      }
    };
  }
}
