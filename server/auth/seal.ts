import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import fs from 'node:fs';

/**
 * Secrets the broker must replay later (CPMS passwords, private keys) are sealed with AES-256-GCM under a key
 * that lives in its own file beside the database, so a copied database alone reveals none of them.
 * Each sealed value is bound to where it is stored (`context`, the GCM additional data): moved to another row
 * or column, it no longer opens.
 */
export interface Sealer {
  seal(plaintext: string | Buffer, context: string): string;
  /** Throws when the value was sealed under another key or context, or was altered. */
  open(sealed: string, context: string): Buffer;
  /** A key of its own for `purpose` (HKDF-SHA256 of the sealing key), e.g. to key station password hashes. */
  deriveKey(purpose: string): Buffer;
}

const VERSION = 'v1';
const KEY_BYTES = 32;

/** Reads the key file, creating it (mode 0600) with a new random key when it does not exist. */
export function loadOrCreateKey(file: string): Buffer {
  try {
    const fd = fs.openSync(file, 'wx', 0o600);
    fs.writeSync(fd, `${randomBytes(KEY_BYTES).toString('base64')}\n`);
    fs.closeSync(fd);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const key = Buffer.from(fs.readFileSync(file, 'utf8').trim(), 'base64');
  if (key.length !== KEY_BYTES) throw new Error(`${file} does not hold a ${KEY_BYTES}-byte key`);
  return key;
}

export function createSealer(key: Buffer): Sealer {
  return {
    seal(plaintext, context) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv).setAAD(Buffer.from(context));
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return [VERSION, iv, ciphertext, cipher.getAuthTag()].map((part) => (typeof part === 'string' ? part : part.toString('base64url'))).join('.');
    },
    open(sealed, context) {
      const [version, iv, ciphertext, tag] = sealed.split('.');
      if (version !== VERSION || iv === undefined || ciphertext === undefined || tag === undefined) {
        throw new Error('Not a sealed value');
      }
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'))
        .setAAD(Buffer.from(context))
        .setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]);
    },
    deriveKey: (purpose) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), `ocpp-broker:${purpose}`, KEY_BYTES)),
  };
}
