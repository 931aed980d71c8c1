import { z } from 'zod';

/**
 * Station identities, as the broker reads them from `/ocpp/<tenant>/<identity>` and the registry stores them: one
 * rule, so that a station the registry accepts is never refused by the broker for its identity.
 */

export const IDENTITY_MAX_LENGTH = 48;

/**
 * Control characters (C0, DEL, C1) and the bidirectional overrides and isolates (U+202A-U+202E, U+2066-U+2069),
 * which would make an identity look like another in logs and in the UI.
 */
const FORBIDDEN = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/u;

/**
 * Why an identity can never connect, or undefined: at most 48 characters and no ":" (OCPP-J 2.0.1 §3.1.1: the
 * Basic auth username of security profiles 1 and 2 is the identity), no control characters or bidi overrides.
 */
export function identityProblem(identity: string): string | undefined {
  if (identity === '') return 'the identity is empty';
  if ([...identity].length > IDENTITY_MAX_LENGTH) return `the identity is longer than ${IDENTITY_MAX_LENGTH} characters`;
  if (identity.includes(':')) return 'the identity contains ":"';
  if (FORBIDDEN.test(identity)) return 'the identity contains control characters or bidirectional overrides';
  return undefined;
}

/** Characters legal in an identity once percent-encoded in the URL, which many stations send unencoded. */
const OFTEN_UNENCODED = [' ', '/', '?', '#', '%'] as const;

/**
 * A warning, not a refusal, for an identity a station may fail to reach the broker with: it must percent-encode
 * these characters in its URL, and many stations do not.
 */
export function identityWarning(identity: string): string | undefined {
  const found = OFTEN_UNENCODED.filter((c) => identity.includes(c));
  if (found.length === 0) return undefined;
  const shown = found.map((c) => (c === ' ' ? 'a space' : `"${c}"`)).join(', ');
  return `The identity contains ${shown}: stations must send it percent-encoded in the URL (${found.map(encodeURIComponent).join(' ')}), and many do not`;
}

/** A registry identity: trimmed, then the broker's own rule, with its message. */
export const identitySchema = z
  .string()
  .trim()
  .min(1, 'Required')
  .superRefine((identity, ctx) => {
    const problem = identityProblem(identity);
    if (problem) ctx.addIssue({ code: 'custom', message: problem.charAt(0).toUpperCase() + problem.slice(1) });
  });

export const stationCreateSchema = z.object({
  tenantId: z.number().int().positive(),
  identity: identitySchema,
  description: z.string().trim().max(200, 'At most 200 characters').default(''),
});

/** A password as an admin enters it: text, or hex for OCPP 1.6 AuthorizationKeys (sent as the decoded bytes). */
export const PASSWORD_ENCODINGS = ['text', 'hex'] as const;
export type PasswordEncoding = (typeof PASSWORD_ENCODINGS)[number];

/**
 * What stations take as a Basic auth password: OCPP 1.6 security whitepaper, an AuthorizationKey of 16-20 bytes;
 * OCPP 2.0.1 BasicAuthPassword, passwordString of 16-40 characters, 64 since the 2025 errata. The broker accepts
 * what any version takes: 16 to 64 bytes.
 */
export const STATION_PASSWORD_BYTES = { min: 16, max: 64 } as const;

export const stationPasswordSchema = z
  .object({ value: z.string(), encoding: z.enum(PASSWORD_ENCODINGS).default('text') })
  .transform((p, ctx) => {
    if (p.encoding === 'hex' && !/^(?:[0-9a-fA-F]{2})*$/.test(p.value)) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'An even number of hex digits' });
      return new Uint8Array();
    }
    const bytes =
      p.encoding === 'hex'
        ? Uint8Array.from(p.value.match(/../g) ?? [], (pair) => parseInt(pair, 16))
        : new TextEncoder().encode(p.value);
    if (bytes.length < STATION_PASSWORD_BYTES.min || bytes.length > STATION_PASSWORD_BYTES.max) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'From 16 to 64 bytes (OCPP 1.6: 16-20, 2.0.1: 16-40, 64 since the 2025 errata)' });
    }
    return bytes;
  });
