import type { ThrottleRule, ThrottleSlot } from './directory.ts';

export type { ThrottleRule, ThrottleSlot };

export type ThrottleAttempt = { ok: true; slot: ThrottleSlot } | { ok: false; retryAfterMs: number };

/**
 * Attempts at something guarded by a secret (admin sign-ins, station authentications), counted per key in sliding
 * windows. An attempt takes its slots before the secret is checked, synchronously, under all its rules or none:
 * however many attempts arrive at once, at most `limit` per key per window are ever checked. A failed attempt keeps
 * its slots until they leave the window; one that turns out not to be a failure gives them back.
 *
 * Kept in memory: an attacker cannot restart the broker, and a restart forgiving an operator's typos is no loss.
 * At most `maxKeys` keys are kept; a flood of new keys evicts those used least recently (every attempt touches all
 * its keys, so an attacker's own keys stay).
 */
export class AttemptThrottle {
  /** Per key, the times of the attempts still counted, oldest first; never more than the rule's limit. */
  readonly #attempts = new Map<string, number[]>();
  readonly #maxKeys: number;
  readonly #now: () => number;

  constructor({ maxKeys = 10_000, now = Date.now }: { maxKeys?: number; now?: () => number } = {}) {
    this.#maxKeys = maxKeys;
    this.#now = now;
  }

  /** A slot under every rule, or how long until there would be one under each (ms). */
  take(rules: readonly ThrottleRule[]): ThrottleAttempt {
    const now = this.#now();
    let retryAfterMs = 0;
    const recent = rules.map((rule) => {
      const times = (this.#attempts.get(rule.key) ?? []).filter((at) => at > now - rule.windowMs);
      if (times.length >= rule.limit) retryAfterMs = Math.max(retryAfterMs, times[times.length - rule.limit]! + rule.windowMs - now);
      return times;
    });
    if (retryAfterMs > 0) {
      rules.forEach((rule, i) => this.#store(rule.key, recent[i]!));
      return { ok: false, retryAfterMs };
    }
    rules.forEach((rule, i) => this.#store(rule.key, [...recent[i]!, now]));
    return { ok: true, slot: { taken: rules.map((rule) => ({ key: rule.key, at: now })) } };
  }

  /** Gives a slot back: its attempt was not a failure (the right password, or refused for another reason). */
  release(slot: ThrottleSlot): void {
    for (const { key, at } of slot.taken) {
      const times = this.#attempts.get(key);
      const index = times?.indexOf(at) ?? -1;
      if (index < 0) continue;
      times!.splice(index, 1);
      if (!times!.length) this.#attempts.delete(key);
    }
  }

  /** How many keys are kept (for tests of the bound). */
  get size(): number {
    return this.#attempts.size;
  }

  #store(key: string, times: number[]): void {
    this.#attempts.delete(key); // re-inserted last: the map's order is least recently used first
    if (!times.length) return;
    if (this.#attempts.size >= this.#maxKeys) this.#attempts.delete(this.#attempts.keys().next().value!);
    this.#attempts.set(key, times);
  }
}
