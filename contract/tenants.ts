import { z } from 'zod';

/**
 * A tenant's settings as every layer knows them: the enums and defaults the database schema is declared with, the
 * field schemas of the API and the forms, and the rules that tie the security settings together.
 */

/** OCPP security profiles (OCPP 1.6 security whitepaper, OCPP 2.0.1 part 2 A00): 0 none, 1 Basic, 2 TLS + Basic, 3 mutual TLS. */
export const SECURITY_PROFILES = [0, 1, 2, 3] as const;
export type SecurityProfile = (typeof SECURITY_PROFILES)[number];

/** Profiles 1 and 2 toward the CPMS: pass the station's own Authorization header on, or send the stored CPMS password. */
export const CPMS_AUTHS = ['passthrough', 'stored'] as const;
export type CpmsAuth = (typeof CPMS_AUTHS)[number];

/** The OCPP version of a tenant's stations ('2.0.1' covers 2.1 too). */
export const OCPP_VERSIONS = ['1.6', '2.0.1'] as const;
export type OcppVersion = (typeof OCPP_VERSIONS)[number];

/** The OCPP version of a link by the subprotocol it speaks (`ocpp2.0.1` and `ocpp2.1` read alike; none means 1.6). */
export function ocppVersionOf(subprotocol: string | null | undefined): OcppVersion {
  return subprotocol?.startsWith('ocpp2') ? '2.0.1' : '1.6';
}

/** `cpms`: the CPMS decides and the broker only observes; `broker`: the broker answers Authorize from the driver list. */
export const AUTHORIZATION_MODES = ['cpms', 'broker'] as const;
export type AuthorizationMode = (typeof AUTHORIZATION_MODES)[number];

/**
 * What the broker does with the CPMS's SetChargingProfile and ClearChargingProfile while it does smart charging
 * (/work/shared/SMART-CHARGING.md): pass them to the station (the broker never offers more than the CPMS's limit),
 * answer Accepted itself without the station seeing them, or answer Rejected itself.
 */
export const CPMS_CHARGING_POLICIES = ['forward', 'accept', 'reject'] as const;
export type CpmsChargingPolicy = (typeof CPMS_CHARGING_POLICIES)[number];

/**
 * A new tenant's settings, as the database defaults them and the forms start. The password toward the CPMS is not
 * one of them: it follows the profiles (`cpmsAuthOf`).
 */
export const TENANT_DEFAULTS = {
  enabled: true,
  stationProfile: 0,
  allowUnknownStations: false,
  profile1OverTls: true,
  cpmsProfile: 0,
  ocppVersion: '1.6',
  authorizationMode: 'cpms',
  smartCharging: false,
  cpmsChargingPolicy: 'forward',
} as const satisfies {
  enabled: boolean;
  stationProfile: SecurityProfile;
  allowUnknownStations: boolean;
  profile1OverTls: boolean;
  cpmsProfile: SecurityProfile;
  ocppVersion: OcppVersion;
  authorizationMode: AuthorizationMode;
  smartCharging: boolean;
  cpmsChargingPolicy: CpmsChargingPolicy;
};

/** Whether a profile authenticates with Basic auth, a password (profiles 1 and 2), on either leg. */
export const usesPassword = (profile: number): boolean => profile === 1 || profile === 2;

/** Whether the tenant's stations authenticate with a password. */
export const usesStationPassword = (tenant: { stationProfile: number }): boolean => usesPassword(tenant.stationProfile);

/** Whether the broker sends the CPMS the password stored for each station. */
export const usesCpmsPassword = (tenant: { cpmsProfile: number; cpmsAuth: CpmsAuth }): boolean =>
  usesPassword(tenant.cpmsProfile) && tenant.cpmsAuth === 'stored';

/**
 * The password toward the CPMS that goes with the profiles: the station's own Authorization header goes on unchanged,
 * as a transparent proxy passes it, unless the CPMS wants a password (profiles 1 and 2) that stations do not send
 * (profiles 0 and 3): then the broker sends a stored one.
 */
export function defaultCpmsAuth(stationProfile: number, cpmsProfile: number): CpmsAuth {
  return usesPassword(cpmsProfile) && !usesPassword(stationProfile) ? 'stored' : 'passthrough';
}

/** A tenant's password toward the CPMS: the one it was given, else the one that goes with its profiles. */
export function cpmsAuthOf(t: { stationProfile?: number; cpmsProfile?: number; cpmsAuth?: CpmsAuth }): CpmsAuth {
  return t.cpmsAuth ?? defaultCpmsAuth(t.stationProfile ?? TENANT_DEFAULTS.stationProfile, t.cpmsProfile ?? TENANT_DEFAULTS.cpmsProfile);
}

/** Lower-case letters, digits and inner hyphens: the slug is a path segment of every station URL. */
export const slugSchema = z
  .string()
  .trim()
  .min(1, 'Required')
  .max(63, 'At most 63 characters')
  .regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, 'Lower-case letters, digits and inner hyphens only');

export const CPMS_URL_MAX_LENGTH = 2048;

/**
 * The CPMS endpoint a station would be configured with; the broker appends `/<identity>`. Stored as the WHATWG URL
 * parser reads it (`new URL(input).href`, without trailing slashes), so what an admin sees is where the broker
 * connects: `ws://evil.example\@good.example/x` is stored as `ws://evil.example/@good.example/x`.
 * A query, a fragment or credentials in it would break the appended identity or leak a secret into lists and logs.
 */
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

// Optional, not defaulted: the database has the defaults, and a partial update must not reset what it omits.
const tenantFields = z.object({
  name: z.string().trim().min(1, 'Required').max(100, 'At most 100 characters'),
  slug: slugSchema,
  cpmsUrl: cpmsUrlSchema,
  enabled: z.boolean().optional(),
  stationProfile: profileSchema.optional(),
  allowUnknownStations: z.boolean().optional(),
  profile1OverTls: z.boolean().optional(),
  organization: z
    .string()
    .trim()
    .max(64, 'At most 64 characters')
    .transform((o) => o || null)
    .nullable()
    .optional(),
  cpmsProfile: profileSchema.optional(),
  cpmsAuth: z.enum(CPMS_AUTHS).optional(),
  ocppVersion: z.enum(OCPP_VERSIONS).optional(),
  authorizationMode: z.enum(AUTHORIZATION_MODES).optional(),
  /** Off: driver identification only. On: the broker shares each site's current among its sessions. */
  smartCharging: z.boolean().optional(),
  cpmsChargingPolicy: z.enum(CPMS_CHARGING_POLICIES).optional(),
});

export type TenantSecurity = Pick<z.infer<typeof tenantFields>, 'cpmsUrl' | 'stationProfile' | 'cpmsProfile' | 'cpmsAuth'>;

/**
 * Settings that only make sense together, as field errors. Checked on create and, on the merged result, on update.
 * - Profiles 2 and 3 toward the CPMS are TLS: the CPMS URL must be wss://.
 * - Passing the station's Authorization header on needs stations that send one (profiles 1 and 2).
 */
export function securityProblems(t: Partial<TenantSecurity>): { path: string; message: string }[] {
  const problems: { path: string; message: string }[] = [];
  const cpmsProfile = t.cpmsProfile ?? TENANT_DEFAULTS.cpmsProfile;
  if (cpmsProfile >= 2 && t.cpmsUrl !== undefined && !t.cpmsUrl.startsWith('wss://')) {
    problems.push({ path: 'cpmsUrl', message: `Profile ${cpmsProfile} toward the CPMS needs a wss:// URL` });
  }
  const stationProfile = t.stationProfile ?? TENANT_DEFAULTS.stationProfile;
  if (usesPassword(cpmsProfile) && cpmsAuthOf(t) === 'passthrough' && !usesPassword(stationProfile)) {
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
    cpmsAuth: z.enum(CPMS_AUTHS),
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
