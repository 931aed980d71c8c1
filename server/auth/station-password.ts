import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { verifyPassword } from './password.ts';
import type { Sealer } from './seal.ts';

const SCHEME = 'hmac-sha256';

/**
 * Station passwords are 16 to 64 random bytes (usually generated), not words a person remembers: guessing one is
 * hopeless at any speed, so a slow hash buys nothing and lets a flood of wrong passwords occupy the machine.
 * They are kept as HMAC-SHA256 under a key derived from `secret.key` (microseconds to check, and a copied database
 * alone cannot be tested offline at all). People's passwords stay scrypt (password.ts).
 */
export function stationPasswordKey(sealer: Sealer): Buffer {
  return sealer.deriveKey('station-passwords');
}

/** `hmac-sha256$<salt>$<mac>` (base64): the salt keeps two stations with the same password apart. */
export function hashStationPassword(password: Uint8Array, key: Buffer): string {
  const salt = randomBytes(16);
  return [SCHEME, salt.toString('base64'), mac(key, salt, password).toString('base64')].join('$');
}

/**
 * Checks the bytes a station sent. Hashes from before (scrypt) still verify, through the bounded scrypt queue for
 * stations (throws Busy when it is full); `upgrade` is then the HMAC hash to store in their place.
 */
export async function verifyStationPassword(password: Uint8Array, stored: string, key: Buffer): Promise<{ valid: boolean; upgrade?: string }> {
  const [scheme, salt, expected] = stored.split('$');
  if (scheme === SCHEME && salt !== undefined && expected !== undefined) {
    const actual = mac(key, Buffer.from(salt, 'base64'), password);
    const wanted = Buffer.from(expected, 'base64');
    return { valid: actual.length === wanted.length && timingSafeEqual(actual, wanted) };
  }
  const valid = await verifyPassword(password, stored, 'stations');
  return valid ? { valid, upgrade: hashStationPassword(password, key) } : { valid };
}

function mac(key: Buffer, salt: Buffer, password: Uint8Array): Buffer {
  return createHmac('sha256', key).update(salt).update(password).digest();
}
