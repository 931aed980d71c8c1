/**
 * The OCPP security profiles as the forms explain them (OCPP 1.6 security whitepaper, OCPP 2.0.1 part 2 A00),
 * and the passwords the UI makes for stations.
 */
import type { Tenant } from './trpc.ts';

export interface ProfileChoice {
  value: 0 | 1 | 2 | 3;
  name: string;
  explanation: string;
}

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

export type CpmsAuth = Tenant['cpmsAuth'];

/** The security settings of a tenant, as the forms edit them (the organization as typed: '' for none). */
export interface SecurityValues {
  stationProfile: number;
  allowUnknownStations: boolean;
  profile1OverTls: boolean;
  organization: string;
  cpmsProfile: number;
  cpmsAuth: CpmsAuth;
}

/** A new tenant's settings: the database's defaults. */
export const DEFAULT_SECURITY: SecurityValues = {
  stationProfile: 0,
  allowUnknownStations: false,
  profile1OverTls: true,
  organization: '',
  cpmsProfile: 0,
  cpmsAuth: 'passthrough',
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

/** Whether stations authenticate with a password (profiles 1 and 2). */
export const usesStationPassword = (tenant: Pick<Tenant, 'stationProfile'>) => tenant.stationProfile === 1 || tenant.stationProfile === 2;

/** Whether the broker sends the CPMS the password stored for each station. */
export const usesCpmsPassword = (tenant: Pick<Tenant, 'cpmsProfile' | 'cpmsAuth'>) =>
  (tenant.cpmsProfile === 1 || tenant.cpmsProfile === 2) && tenant.cpmsAuth === 'stored';

export type PasswordEncoding = 'text' | 'hex';

/**
 * A new random station password: 20 bytes as 40 hex digits (an OCPP 1.6 AuthorizationKey, at its longest), or
 * 24 base64url characters (an OCPP 2.0.1 BasicAuthPassword; 144 bits, printable, within every station's limits).
 */
export function generatePassword(encoding: PasswordEncoding): string {
  const bytes = crypto.getRandomValues(new Uint8Array(encoding === 'hex' ? 20 : 18));
  if (encoding === 'hex') return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('').toUpperCase();
  return btoa(String.fromCharCode(...bytes)).replaceAll('+', '-').replaceAll('/', '_');
}
