import { createInsertSchema } from 'drizzle-zod';
import { z } from 'zod';
import { badgeMatchKey } from './badges.ts';
import { drivers, tenants, type Tenant } from './schema.ts';

/** Lower-case letters, digits and inner hyphens: the slug is a path segment of every station URL. */
export const slugSchema = z
  .string()
  .trim()
  .min(1, 'Required')
  .max(63, 'At most 63 characters')
  .regex(
    /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/,
    'Lower-case letters, digits and inner hyphens only',
  );

/**
 * The CPMS endpoint a station would be configured with; the broker appends `/<identity>`. Stored as the WHATWG URL
 * parser reads it (`new URL(input).href`, without trailing slashes), so what an admin sees is where the broker
 * connects: `ws://evil.example\@good.example/x` is stored as `ws://evil.example/@good.example/x`.
 * A query, a fragment or credentials in it would break the appended identity or leak a secret into lists and logs.
 */
export const CPMS_URL_MAX_LENGTH = 2048;

export const cpmsUrlSchema = z
  .string()
  .trim()
  .min(1, 'Required')
  .max(CPMS_URL_MAX_LENGTH, `At most ${CPMS_URL_MAX_LENGTH} characters`)
  .transform((value, ctx) => {
    let url: URL;
    try {
      url = new URL(value);
    } catch {
      ctx.addIssue({ code: 'custom', message: 'Not a valid URL' });
      return z.NEVER;
    }
    if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
      ctx.addIssue({ code: 'custom', message: 'Must start with ws:// or wss://' });
    } else if (url.username || url.password) {
      ctx.addIssue({ code: 'custom', message: 'Must not contain credentials' });
    } else if (url.search || url.hash || value.includes('#') || value.includes('?')) {
      ctx.addIssue({ code: 'custom', message: 'Must not contain a query or fragment' });
    }
    const normalized = url.href.replace(/\/+$/, '');
    if (normalized.length > CPMS_URL_MAX_LENGTH) ctx.addIssue({ code: 'custom', message: `At most ${CPMS_URL_MAX_LENGTH} characters` });
    return normalized;
  });

const profileSchema = z.number().int().min(0, 'A profile from 0 to 3').max(3, 'A profile from 0 to 3');

const tenantFields = createInsertSchema(tenants, {
  name: (s) => s.trim().min(1, 'Required').max(100, 'At most 100 characters'),
  slug: () => slugSchema,
  cpmsUrl: () => cpmsUrlSchema,
  // Optional, not defaulted: the database has the defaults, and a partial update must not reset what it omits.
  stationProfile: () => profileSchema.optional(),
  cpmsProfile: () => profileSchema.optional(),
  organization: () =>
    z
      .string()
      .trim()
      .max(64, 'At most 64 characters')
      .transform((o) => o || null)
      .nullable()
      .optional(),
}).pick({
  name: true,
  slug: true,
  cpmsUrl: true,
  enabled: true,
  stationProfile: true,
  allowUnknownStations: true,
  profile1OverTls: true,
  organization: true,
  cpmsProfile: true,
  cpmsAuth: true,
  ocppVersion: true,
  authorizationMode: true,
  smartCharging: true,
});

export type TenantSecurity = Pick<z.infer<typeof tenantFields>, 'cpmsUrl' | 'stationProfile' | 'cpmsProfile' | 'cpmsAuth'>;

/**
 * Settings that only make sense together, as field errors. Checked on create and, on the merged result, on update.
 * - Profiles 2 and 3 toward the CPMS are TLS: the CPMS URL must be wss://.
 * - Passing the station's Authorization header on needs stations that send one (profiles 1 and 2).
 */
export function securityProblems(t: Partial<TenantSecurity>): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const cpmsProfile = t.cpmsProfile ?? 0;
  if (cpmsProfile >= 2 && t.cpmsUrl !== undefined && !t.cpmsUrl.startsWith('wss://')) {
    problems.push({ path: 'cpmsUrl', message: `Profile ${cpmsProfile} toward the CPMS needs a wss:// URL` });
  }
  const stationProfile = t.stationProfile ?? 0;
  if ((cpmsProfile === 1 || cpmsProfile === 2) && (t.cpmsAuth ?? 'passthrough') === 'passthrough' && stationProfile !== 1 && stationProfile !== 2) {
    problems.push({ path: 'cpmsAuth', message: 'Pass-through needs stations on profile 1 or 2; store a CPMS password per station instead' });
  }
  return problems;
}

function refineSecurity(value: Partial<TenantSecurity>, ctx: z.RefinementCtx): void {
  for (const problem of securityProblems(value)) ctx.addIssue({ code: 'custom', path: [problem.path], message: problem.message });
}

export const tenantCreateSchema = tenantFields.superRefine(refineSecurity);

/** The same checks on a tenant's settings as they would be after an update. */
export const tenantSecuritySchema = z
  .object({
    cpmsUrl: z.string(),
    stationProfile: z.number(),
    cpmsProfile: z.number(),
    cpmsAuth: z.enum(['passthrough', 'stored']),
  })
  .partial()
  .superRefine(refineSecurity);

/** The slug is fixed after creation: stations are configured with it. The router checks the merged settings. */
export const tenantUpdateSchema = tenantFields
  .omit({ slug: true })
  .partial()
  .extend({ id: z.number().int().positive() });

export type TenantCreate = z.infer<typeof tenantCreateSchema>;
export type TenantUpdate = z.infer<typeof tenantUpdateSchema>;

export const roleSchema = z.enum(['admin', 'viewer']);

/** Usernames are compared in lower case. */
export const usernameSchema = z
  .string()
  .trim()
  .toLowerCase()
  .min(1, 'Required')
  .max(64, 'At most 64 characters')
  .regex(/^[a-z0-9._@-]+$/, 'Letters, digits and . _ @ - only');

export const passwordSchema = z.string().min(12, 'At least 12 characters').max(1024, 'At most 1024 characters');

export const credentialsSchema = z.object({ username: usernameSchema, password: passwordSchema });

export const userCreateSchema = credentialsSchema.extend({ role: roleSchema });

export const userUpdateSchema = z.object({
  id: z.number().int().positive(),
  role: roleSchema.optional(),
  password: passwordSchema.optional(),
});

export const tokenCreateSchema = z.object({
  name: z.string().trim().min(1, 'Required').max(100, 'At most 100 characters'),
  /** ISO date-time; none for a token that does not expire. */
  expiresAt: z.coerce
    .date()
    .refine((date) => date.getTime() > Date.now(), 'Must be in the future')
    .nullable()
    .default(null),
});

/** A password as an admin enters it: text, or hex for OCPP 1.6 AuthorizationKeys (sent as the decoded bytes). */
export const stationPasswordSchema = z
  .object({ value: z.string(), encoding: z.enum(['text', 'hex']).default('text') })
  .transform((p, ctx) => {
    if (p.encoding === 'hex' && !/^(?:[0-9a-fA-F]{2})*$/.test(p.value)) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'An even number of hex digits' });
      return new Uint8Array();
    }
    const bytes =
      p.encoding === 'hex'
        ? Uint8Array.from(p.value.match(/../g) ?? [], (pair) => parseInt(pair, 16))
        : new TextEncoder().encode(p.value);
    if (bytes.length < 16 || bytes.length > 64) {
      ctx.addIssue({ code: 'custom', path: ['value'], message: 'From 16 to 64 bytes (OCPP 1.6: 16-20, 2.0.1: 16-40, 64 since the 2025 errata)' });
    }
    return bytes;
  });

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

// Drivers and their badges.

/**
 * The longest badge a tenant's stations can carry, in characters: OCPP 1.6 IdToken is CiString20Type;
 * OCPP 2.0.1 IdTokenType.idToken is identifierString[0..36].
 */
export const BADGE_LIMITS = { '1.6': 20, '2.0.1': 36 } as const satisfies Record<Tenant['ocppVersion'], number>;

/** The longest limit of any version: what API inputs accept before the tenant's own limit is checked. */
export const BADGE_MAX_LENGTH = Math.max(...Object.values(BADGE_LIMITS));

export function badgeLimit(ocppVersion: Tenant['ocppVersion']): number {
  return BADGE_LIMITS[ocppVersion];
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

const driverFields = createInsertSchema(drivers, { email: () => driverEmailSchema }).pick({ email: true, blocked: true });

/** A driver as the API and each CSV row give it, for a tenant whose badges may be `maxBadgeLength` long. */
export function driverInputSchema(maxBadgeLength: number) {
  return driverFields.pick({ email: true }).extend({ badgeIds: badgeIdsSchema(maxBadgeLength) });
}

export function driverCreateSchema(maxBadgeLength: number) {
  return driverInputSchema(maxBadgeLength).extend({ tenantId: z.number().int().positive() });
}

export function driverUpdateSchema(maxBadgeLength: number) {
  return driverFields
    .partial()
    .extend({ id: z.number().int().positive(), badgeIds: badgeIdsSchema(maxBadgeLength).optional() });
}

export type DriverInput = z.infer<ReturnType<typeof driverInputSchema>>;
export type DriverCreate = z.infer<ReturnType<typeof driverCreateSchema>>;
export type DriverUpdate = z.infer<ReturnType<typeof driverUpdateSchema>>;
