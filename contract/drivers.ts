import { z } from 'zod';
import type { OcppVersion } from './tenants.ts';

/**
 * The longest badge a tenant's stations can carry, in characters: OCPP 1.6 IdToken is CiString20Type;
 * OCPP 2.0.1 IdTokenType.idToken is identifierString[0..36].
 */
export const BADGE_LIMITS = { '1.6': 20, '2.0.1': 36 } as const satisfies Record<OcppVersion, number>;

/** The longest limit of any version: what API inputs accept before the tenant's own limit is checked. */
export const BADGE_MAX_LENGTH = Math.max(...Object.values(BADGE_LIMITS));

export function badgeLimit(ocppVersion: OcppVersion): number {
  return BADGE_LIMITS[ocppVersion];
}

/** What badge matching compares: surrounding spaces and case do not count (OCPP 2.0.1 idTokens are case-insensitive). */
export function badgeMatchKey(badge: string): string {
  return badge.trim().toLowerCase();
}

/** A badge as messages show it: quoted, and cut short when it is long. */
export function showBadge(badge: string): string {
  return JSON.stringify([...badge].length > 40 ? `${[...badge].slice(0, 40).join('')}…` : badge);
}

/**
 * One badge, trimmed. Commas are refused because the CSV lists several badges in one field separated by commas
 * (a badge with a comma could not be exported); control characters because no station sends them.
 */
export function badgeIdSchema(maxLength: number) {
  return z
    .string()
    .trim()
    .min(1, 'An empty badge (two commas in a row?)')
    .refine((badge) => !/[\p{Cc},]/u.test(badge), {
      error: (issue) => `Badge ${showBadge(String(issue.input))} contains a comma or a control character`,
    })
    .refine((badge) => [...badge].length <= maxLength, {
      error: (issue) => `Badge ${showBadge(String(issue.input))} is longer than ${maxLength} characters, the limit of the tenant's OCPP version`,
    });
}

/** A driver's badges: at least one, none twice (matching ignores case and surrounding spaces). */
export function badgeIdsSchema(maxLength: number) {
  return z
    .array(badgeIdSchema(maxLength))
    .min(1, 'No badge')
    .superRefine((badgeIds, ctx) => {
      const seen = new Set<string>();
      badgeIds.forEach((badge, index) => {
        const key = badgeMatchKey(badge);
        if (key && seen.has(key)) ctx.addIssue({ code: 'custom', path: [index], message: `Badge ${showBadge(badge)} is listed twice` });
        seen.add(key);
      });
    });
}

/** Emails identify drivers within a tenant and are kept in lower case. */
export const driverEmailSchema = z
  .string()
  .trim()
  .toLowerCase()
  .min(1, 'Required')
  .max(254, 'At most 254 characters')
  .pipe(z.email('Not a valid email address'));

/** A driver as the API and each CSV row give it, for a tenant whose badges may be `maxBadgeLength` long. */
export function driverInputSchema(maxBadgeLength: number) {
  return z.object({ email: driverEmailSchema, badgeIds: badgeIdsSchema(maxBadgeLength) });
}

export function driverCreateSchema(maxBadgeLength: number) {
  return driverInputSchema(maxBadgeLength).extend({ tenantId: z.number().int().positive() });
}

export function driverUpdateSchema(maxBadgeLength: number) {
  return z.object({
    id: z.number().int().positive(),
    email: driverEmailSchema.optional(),
    blocked: z.boolean().optional(),
    badgeIds: badgeIdsSchema(maxBadgeLength).optional(),
  });
}

export type DriverInput = z.infer<ReturnType<typeof driverInputSchema>>;
export type DriverCreate = z.infer<ReturnType<typeof driverCreateSchema>>;
export type DriverUpdate = z.infer<ReturnType<typeof driverUpdateSchema>>;
