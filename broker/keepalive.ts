/** What the keepalive timer asks of each session: ping its links, drop the ones that stopped answering. */
export interface KeptAlive {
  keepalive(now: number): void;
}

/**
 * One timer for every session of a broker (instead of one per session): every `intervalMs` each session pings its
 * links and drops those that missed too many pongs. It runs only while there are sessions.
 */
export class Keepalive {
  readonly #sessions = new Set<KeptAlive>();
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;

  constructor(intervalMs: number) {
    this.#intervalMs = intervalMs;
  }

  get size(): number {
    return this.#sessions.size;
  }

  add(session: KeptAlive): void {
    this.#sessions.add(session);
    this.#timer ??= setInterval(() => this.#tick(), this.#intervalMs);
  }

  delete(session: KeptAlive): void {
    this.#sessions.delete(session);
    if (this.#sessions.size === 0 && this.#timer) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
  }

  #tick(): void {
    const now = Date.now();
    // A Set may lose entries while it is walked: a session that leaves is simply not visited.
    for (const session of this.#sessions) session.keepalive(now);
  }
}
