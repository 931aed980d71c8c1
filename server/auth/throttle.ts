/**
 * Counts failed logins per key (a username, an IP address) in a sliding window. Kept in memory: an attacker
 * cannot restart the broker, and a restart forgiving an operator's typos is no loss.
 */
export class LoginThrottle {
  readonly #failures = new Map<string, number[]>();
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #now: () => number;

  constructor({ limit = 5, windowMs = 15 * 60_000, now = Date.now } = {}) {
    this.#limit = limit;
    this.#windowMs = windowMs;
    this.#now = now;
  }

  /** How long until any of `keys` may try again, in ms; 0 when none is blocked. */
  retryAfterMs(keys: string[]): number {
    const now = this.#now();
    let wait = 0;
    for (const key of keys) {
      const recent = this.#recent(key, now);
      if (recent.length >= this.#limit) wait = Math.max(wait, recent[recent.length - this.#limit]! + this.#windowMs - now);
    }
    return wait;
  }

  fail(keys: string[]): void {
    const now = this.#now();
    for (const key of keys) this.#failures.set(key, [...this.#recent(key, now), now]);
  }

  forget(key: string): void {
    this.#failures.delete(key);
  }

  #recent(key: string, now: number): number[] {
    const recent = (this.#failures.get(key) ?? []).filter((at) => at > now - this.#windowMs);
    if (recent.length) this.#failures.set(key, recent);
    else this.#failures.delete(key);
    return recent;
  }
}
