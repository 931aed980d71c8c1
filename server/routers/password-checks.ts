import { TRPCError } from '@trpc/server';
import { findLogin } from '../../db/users.ts';
import { Busy } from '../auth/bounded.ts';
import { dummyHash, verifyPassword } from '../auth/password.ts';
import type { Context } from '../trpc.ts';

/** How long a caller refused because too many password checks wait is asked to wait. */
const BUSY_RETRY_AFTER_SECONDS = 2;

function tooManyRequests(message: string, retryAfterSeconds: number, reason: 'throttled' | 'busy'): TRPCError {
  return new TRPCError({ code: 'TOO_MANY_REQUESTS', message, cause: Object.assign(new Error(reason), { retryAfterSeconds, reason }) });
}

/** Runs a scrypt task; TOO_MANY_REQUESTS when too many wait already. */
export async function orBusy<T>(task: () => Promise<T>): Promise<T> {
  try {
    return await task();
  } catch (error) {
    if (!(error instanceof Busy)) throw error;
    throw tooManyRequests('The broker is busy checking passwords: try again in a few seconds', BUSY_RETRY_AFTER_SECONDS, 'busy');
  }
}

/**
 * Checks a person's password under the sign-in throttle (server/auth/login-throttle.ts). The attempt takes its
 * slots before the check, synchronously, so attempts sent together (a tRPC batch, parallel requests) cannot all be
 * checked; a right password gives them back. Throws TOO_MANY_REQUESTS when throttled or when too many checks wait.
 */
export async function checkPassword(ctx: Context, username: string, password: string): Promise<NonNullable<ReturnType<typeof findLogin>> | undefined> {
  const user = findLogin(ctx.db, username);
  const attempt = ctx.throttle.take(username, user?.passwordHash, ctx.remoteAddress);
  if (!attempt.ok) {
    const retryAfterSeconds = Math.ceil(attempt.retryAfterMs / 1000);
    throw tooManyRequests(`Too many failed logins: try again in ${Math.ceil(retryAfterSeconds / 60)} minute(s)`, retryAfterSeconds, 'throttled');
  }
  let valid: boolean;
  try {
    valid = await orBusy(async () => verifyPassword(password, user?.passwordHash ?? (await dummyHash())));
  } catch (error) {
    ctx.throttle.release(attempt.slot);
    throw error;
  }
  if (!user || !valid) {
    ctx.metrics.adminLoginFailed();
    ctx.log.warn({ event: 'login.failed', username, remoteAddress: ctx.remoteAddress }, 'login failed');
    return undefined;
  }
  ctx.throttle.succeeded(attempt.slot, username, ctx.remoteAddress);
  return user;
}
