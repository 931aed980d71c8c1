/**
 * The OCPP security profiles as the forms explain them (OCPP 1.6 security whitepaper, OCPP 2.0.1 part 2 A00),
 * and the passwords the UI makes for stations.
 */
import { BADGE_LIMITS, defaultCpmsAuth, TENANT_DEFAULTS, type CpmsAuth, type OcppVersion, type PasswordEncoding } from '../../contract/index.ts';
import type { Choice } from './forms.ts';
import type { Tenant } from './trpc.ts';

export type ProfileChoice = Choice<number>;

/** What the tenant's stations must use toward the broker. */
export const STATION_PROFILES: ProfileChoice[] = [
  { value: 0, name: 'Profile 0', explanation: 'no authentication, ws://; on a private network only' },
  { value: 1, name: 'Profile 1', explanation: 'Basic auth with each station’s password, ws://' },
  { value: 2, name: 'Profile 2', explanation: 'TLS (wss://) and Basic auth' },
  { value: 3, name: 'Profile 3', explanation: 'mutual TLS: a client certificate from the tenant’s station CA, CN = identity' },
];

/** What the CPMS expects from the broker. */
export const CPMS_PROFILES: ProfileChoice[] = [
  { value: 0, name: 'Profile 0', explanation: 'the broker presents no credentials of its own' },
  { value: 1, name: 'Profile 1', explanation: 'Basic auth for each station' },
  { value: 2, name: 'Profile 2', explanation: 'TLS and Basic auth; the CPMS URL must be wss://' },
  { value: 3, name: 'Profile 3', explanation: 'mutual TLS with the broker’s client certificate; the CPMS URL must be wss://' },
];

export type { CpmsAuth, PasswordEncoding };
export { defaultCpmsAuth, usesCpmsPassword, usesStationPassword } from '../../contract/index.ts';

/** The security settings of a tenant, as the forms edit them (the organization as typed: '' for none). */
export interface SecurityValues {
  stationProfile: number;
  allowUnknownStations: boolean;
  profile1OverTls: boolean;
  organization: string;
  cpmsProfile: number;
  cpmsAuth: CpmsAuth;
}

/** A new tenant's settings: the contract's defaults, with the CPMS password that goes with the profiles. */
export const DEFAULT_SECURITY: SecurityValues = {
  stationProfile: TENANT_DEFAULTS.stationProfile,
  allowUnknownStations: TENANT_DEFAULTS.allowUnknownStations,
  profile1OverTls: TENANT_DEFAULTS.profile1OverTls,
  organization: '',
  cpmsProfile: TENANT_DEFAULTS.cpmsProfile,
  cpmsAuth: defaultCpmsAuth(TENANT_DEFAULTS.stationProfile, TENANT_DEFAULTS.cpmsProfile),
};

export function securityOf(tenant: Tenant): SecurityValues {
  return {
    stationProfile: tenant.stationProfile,
    allowUnknownStations: tenant.allowUnknownStations,
    profile1OverTls: tenant.profile1OverTls,
    organization: tenant.organization ?? '',
    cpmsProfile: tenant.cpmsProfile,
    cpmsAuth: tenant.cpmsAuth,
  };
}


/**
 * What stations take as a Basic auth password (OCPP 1.6 security whitepaper: an AuthorizationKey of 16-20 bytes;
 * OCPP 2.0.1 BasicAuthPassword: passwordString of 16-40 characters, 64 since the 2025 errata), as the field says.
 */
export const PASSWORD_RULES: Record<OcppVersion, Record<PasswordEncoding, string>> = {
  '1.6': {
    text: '16 to 64 bytes; OCPP 1.6 stations take 16-20 (an AuthorizationKey), so keep to 20 characters.',
    hex: '32 to 128 hex digits; OCPP 1.6 stations take 16-20 bytes (up to 40 digits).',
  },
  '2.0.1': {
    text: '16 to 64 bytes; OCPP 2.0.1 stations take 16-40 characters (64 since the 2025 errata).',
    hex: '32 to 128 hex digits, used as the bytes they stand for; 2.0.1 stations usually take text.',
  },
};

/**
 * A new random station password for the tenant's OCPP version, within what every station of it takes:
 * - 1.6: 20 bytes (an AuthorizationKey at its longest) as 40 hex digits, or 20 printable characters;
 * - 2.0.1: 24 printable characters (144 bits; 16-40 allowed), or 20 bytes as 40 hex digits.
 * Printable ones are base64url: letters, digits, '-' and '_'.
 */
export function generatePassword(encoding: PasswordEncoding, ocppVersion: OcppVersion): string {
  if (encoding === 'hex') {
    return Array.from(crypto.getRandomValues(new Uint8Array(20)), (byte) => byte.toString(16).padStart(2, '0')).join('').toUpperCase();
  }
  const bytes = crypto.getRandomValues(new Uint8Array(ocppVersion === '1.6' ? 15 : 18));
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_');
}

/** The OCPP versions a tenant's stations may speak, with the badge lengths each allows. */
export const OCPP_VERSIONS = [
  { value: '1.6', name: 'OCPP 1.6', explanation: `badges (idTag) of up to ${BADGE_LIMITS['1.6']} characters` },
  { value: '2.0.1', name: 'OCPP 2.0.1 or 2.1', explanation: `badges (idToken) of up to ${BADGE_LIMITS['2.0.1']} characters` },
] as const satisfies readonly Choice<OcppVersion>[];
