import { z } from 'zod';

/**
 * Station identities, as the broker reads them from `/ocpp/<tenant>/<identity>` and the registry stores them: one
 * rule, so that a station the registry accepts is never refused by the broker for its identity.
 */

export const IDENTITY_MAX_LENGTH = 48;

const FORBIDDEN = /[\u0000-\u001f\u007f]/;

/**
 * Why an identity can never connect, or undefined: at most 48 characters and no ":" (OCPP-J 2.0.1 §3.1.1: the
 * Basic auth username of security profiles 1 and 2 is the identity), no control characters or bidi overrides.
 */
export function identityProblem(identity: string): string | undefined {
  if (identity === '') return 'the identity is empty';
  if ([...identity].length > IDENTITY_MAX_LENGTH) return `the identity is longer than ${IDENTITY_MAX_LENGTH} characters`;
  if (identity.includes(':')) return 'the identity contains ":"';
  if (FORBIDDEN.test(identity)) return 'the identity contains control characters';
  return undefined;
}

export const stationCreateSchema = z.object({
  tenantId: z.number().int().positive(),
  identity: z
    .string()
    .trim()
    .min(1, 'Required')
    .refine((id) => [...id].length <= 48, 'At most 48 characters')
    .refine((id) => !id.includes(':'), 'No ":"'),
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
