import { createHash } from 'node:crypto';
import type { ThrottleRule } from './throttle.ts';

/**
 * Sign-in attempts (and password changes, which check the current password) allowed before TOO_MANY_REQUESTS:
 * - for one username from one address: 5 per 15 minutes, then that pair waits out the window;
 * - from one address, whatever the username: 20 per 15 minutes;
 * - for one username from everywhere: 10 a minute. A lower rate, not a lock-out: however many addresses guess at
 *   `admin`, the admin waits a minute at most for a turn, while guessing stays slow.
 * Only failures keep their slot. The username's keys carry a digest of its current password hash, so a new password
 * (`ocpp-broker admin reset-password`, from another process, or an admin's) starts afresh with nothing to clear.
 */
export const LOGIN_LIMITS = {
  perUserAndAddress: { limit: 5, windowMs: 15 * 60_000 },
  perAddress: { limit: 20, windowMs: 15 * 60_000 },
  perUser: { limit: 10, windowMs: 60_000 },
} as const;

export function loginRules(username: string, passwordHash: string | undefined, address: string): ThrottleRule[] {
  const account = `${username}#${passwordHash ? createHash('sha256').update(passwordHash).digest('base64url').slice(0, 16) : '-'}`;
  return [
    { key: `user-address:${account}|${address}`, ...LOGIN_LIMITS.perUserAndAddress },
    { key: `address:${address}`, ...LOGIN_LIMITS.perAddress },
    { key: `user:${account}`, ...LOGIN_LIMITS.perUser },
  ];
}
