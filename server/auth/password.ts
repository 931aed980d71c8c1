import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { createBoundedRunner } from './bounded.ts';

/**
 * scrypt at OWASP's recommended cost for N = 2^15 (32 MiB, r = 8, p = 3). The parameters are stored with
 * each hash, so they can be raised later without invalidating existing passwords.
 */
const COST = { N: 2 ** 15, r: 8, p: 3 };
const KEY_BYTES = 32;

/**
 * scrypt runs on libuv's thread pool (4 threads unless UV_THREADPOOL_SIZE says otherwise), which file reads (the
 * UI), DNS lookups (the CPMS) and zlib share. So at most one scrypt runs for people's passwords and one for
 * stations' (legacy hashes, see station-password.ts), each with a short queue: two threads always stay free, a flood
 * of sign-ins costs at most one core, and a caller beyond the queue is refused at once (Busy) instead of waiting
 * behind the flood.
 */
export const scryptRunners = {
  people: createBoundedRunner({ concurrency: 1, queue: 4, what: 'password checks' }),
  stations: createBoundedRunner({ concurrency: 1, queue: 4, what: 'station password checks' }),
};
export type ScryptQueue = keyof typeof scryptRunners;

/** A person's password is text (normalized, so the same characters typed differently match); a station's is bytes. */
function derive(password: string | Uint8Array, salt: Buffer, cost: typeof COST, queue: ScryptQueue): Promise<Buffer> {
  const options: ScryptOptions = { ...cost, maxmem: 256 * cost.N * cost.r };
  const secret = typeof password === 'string' ? password.normalize('NFKC') : password;
  return scryptRunners[queue].run(
    () => new Promise((resolve, reject) => scrypt(secret, salt, KEY_BYTES, options, (error, key) => (error ? reject(error) : resolve(key)))),
  );
}

/** `scrypt$N$r$p$<salt>$<hash>` (base64), off the event loop. Throws Busy when too many checks are waiting. */
export async function hashPassword(password: string | Uint8Array, queue: ScryptQueue = 'people'): Promise<string> {
  const salt = randomBytes(16);
  const hash = await derive(password, salt, COST, queue);
  return ['scrypt', COST.N, COST.r, COST.p, salt.toString('base64'), hash.toString('base64')].join('$');
}

/** Throws Busy when too many checks are waiting. */
export async function verifyPassword(password: string | Uint8Array, stored: string, queue: ScryptQueue = 'people'): Promise<boolean> {
  const [scheme, N, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const actual = await derive(password, Buffer.from(salt, 'base64'), { N: Number(N), r: Number(r), p: Number(p) }, queue);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

let dummy: Promise<string> | undefined;

/** A hash to verify against for an unknown username, so that it takes as long as a known one. */
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(randomBytes(16).toString('hex'));
  dummy.catch(() => (dummy = undefined)); // Busy: try again next time
  return dummy;
}
