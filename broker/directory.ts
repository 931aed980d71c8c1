import type { X509Certificate } from 'node:crypto';

/** A tenant's settings as the proxy needs them. */
export interface TenantSecurity {
  id: number;
  slug: string;
  cpmsUrl: string;
  enabled: boolean;
  stationProfile: number;
  allowUnknownStations: boolean;
  profile1OverTls: boolean;
  organization: string | null;
  cpmsProfile: number;
  cpmsAuth: 'passthrough' | 'stored';
}

/** A registered station's credentials (hashes and references, not secrets). */
export interface StationCredentials {
  id: number;
  passwordHash: string | null;
  certificateFingerprint: string | null;
}

/** What the proxy asks of the rest of the broker: tenants, stations and the secrets to open on the way. */
export interface Directory {
  tenant(slug: string): TenantSecurity | undefined;
  station(tenantId: number, identity: string): StationCredentials | undefined;
  /**
   * Compares the bytes of a Basic auth password with the station's stored hash (which it may upgrade);
   * 'busy' when too many checks wait already.
   */
  checkPassword(station: StationCredentials & { passwordHash: string }, password: Buffer): Promise<boolean | 'busy'>;
  /** Profile 3 on the station leg: the roots station certificates must chain to. */
  stationCas(tenantId: number): X509Certificate[];
  /** The CPMS password stored for a station, opened. */
  cpmsPassword(stationId: number): Buffer | undefined;
  /** Roots for the CPMS's server certificate; empty for the system's. */
  cpmsCas(tenantId: number): string[];
  /** Profile 3 toward the CPMS: the station's own client certificate and key, else the tenant's. */
  cpmsClientCertificate(tenantId: number, stationId: number | undefined): { cert: string; key: string } | undefined;
  /** Records a refused station credential (log and audit). */
  authenticationFailed(failure: { tenant: string; identity: string; remoteAddress: string; reason: string }): void;
}

/** At most `limit` attempts under `key` in any `windowMs` (a sliding window). */
export interface ThrottleRule {
  key: string;
  limit: number;
  windowMs: number;
}

/** What a granted attempt holds: one slot under each of its rules, until it is given back. */
export interface ThrottleSlot {
  readonly taken: readonly { key: string; at: number }[];
}

/** Station authentication attempts, counted before they are checked (broker/throttle.ts). */
export interface Throttle {
  /** Synchronously: a slot under every rule, or how long until there would be one. */
  take(rules: readonly ThrottleRule[]): { ok: true; slot: ThrottleSlot } | { ok: false; retryAfterMs: number };
  /** The attempt was not a failure. */
  release(slot: ThrottleSlot): void;
}
