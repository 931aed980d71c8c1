import { createHash } from 'node:crypto';
import { AttemptThrottle, type ThrottleAttempt, type ThrottleSlot } from '../../broker/throttle.ts';

/**
 * Sign-in attempts (and password changes, which check the current password) allowed before TOO_MANY_REQUESTS:
 * - for one username from one address: 5 per 15 minutes, then that pair waits out the window;
 * - from one address, whatever the username: 20 per 15 minutes;
 * - for one username from everywhere: 10 a minute. A lower rate, not a lock-out, and not for addresses the user
 *   signed in from before: however many addresses guess at `admin`, the admin gets in from its usual address at once,
 *   and from a new one within a minute, while guessing stays slow.
 */
export const LOGIN_LIMITS = {
  perUserAndAddress: { limit: 5, windowMs: 15 * 60_000 },
  perAddress: { limit: 20, windowMs: 15 * 60_000 },
  perUser: { limit: 10, windowMs: 60_000 },
} as const;

/** Addresses a user signed in from are remembered this long, at most this many (user, address) pairs. */
const KNOWN_FOR_MS = 30 * 24 * 60 * 60_000;
const KNOWN_MAX = 10_000;

/**
 * The sign-in throttle. The username's keys carry a digest of its current password hash, so a new password
 * (`ocpp-broker admin reset-password` from another process, or an admin's) starts afresh, with nothing to clear.
 */
export class SignInThrottle {
  readonly #attempts: AttemptThrottle;
  /** `username|address` → when the user last signed in from there; oldest first. */
  readonly #known = new Map<string, number>();
  readonly #now: () => number;

  constructor({ now = Date.now }: { now?: () => number } = {}) {
    this.#now = now;
    this.#attempts = new AttemptThrottle({ now });
  }

  /** Takes the attempt's slots (synchronously, before the password is checked). */
  take(username: string, passwordHash: string | undefined, address: string): ThrottleAttempt {
    const account = `${username}#${passwordHash ? createHash('sha256').update(passwordHash).digest('base64url').slice(0, 16) : '-'}`;
    const knownAt = this.#known.get(`${username}|${address}`);
    const known = knownAt !== undefined && knownAt > this.#now() - KNOWN_FOR_MS;
    return this.#attempts.take([
      { key: `user-address:${account}|${address}`, ...LOGIN_LIMITS.perUserAndAddress },
      { key: `address:${address}`, ...LOGIN_LIMITS.perAddress },
      ...(known ? [] : [{ key: `user:${account}`, ...LOGIN_LIMITS.perUser }]),
    ]);
  }

  /** The password was right: the attempt's slots are given back, and the address is remembered for the user. */
  succeeded(slot: ThrottleSlot, username: string, address: string): void {
    this.#attempts.release(slot);
    const key = `${username}|${address}`;
    this.#known.delete(key);
    if (this.#known.size >= KNOWN_MAX) this.#known.delete(this.#known.keys().next().value!);
    this.#known.set(key, this.#now());
  }

  /** The password could not be checked (too many checks waiting): not a failure. */
  release(slot: ThrottleSlot): void {
    this.#attempts.release(slot);
  }
}
