import { and, eq, inArray, sql } from 'drizzle-orm';
import type { CpmsChargingPolicy } from '../contract/tenants.ts';
import type { Db } from './index.ts';
import { prepared } from './prepared.ts';
import { chargingProfiles, tenants } from './schema.ts';

/** A profile as this table keeps it (server/smart/charging-profiles.ts InstalledProfile). */
export interface StoredProfile {
  id: number;
  purpose: string;
  stackLevel: number;
  evseId: number;
  transactionId: string | null;
  /** As sent: 1.6 csChargingProfiles, 2.0.1 chargingProfile. */
  sent: Record<string, unknown>;
  installedAt: number;
}

/** The rows of the profiles the CPMS installed on a station (owner 'cpms'), as stored. */
export function cpmsProfileRows(db: Db, tenantId: number, identity: string) {
  return db
    .select({
      profileId: chargingProfiles.profileId,
      evseId: chargingProfiles.evseId,
      profile: chargingProfiles.profile,
      installedAt: chargingProfiles.installedAt,
    })
    .from(chargingProfiles)
    .where(and(eq(chargingProfiles.tenantId, tenantId), eq(chargingProfiles.identity, identity), eq(chargingProfiles.owner, 'cpms')))
    .orderBy(chargingProfiles.installedAt, chargingProfiles.id)
    .all();
}

/** What a CPMS clear is matched against among the broker's own profiles on the station (owner 'broker'). */
export function brokerProfileKeys(db: Db, tenantId: number, identity: string) {
  return db
    .select({ id: chargingProfiles.profileId, evseId: chargingProfiles.evseId, purpose: chargingProfiles.purpose, stackLevel: chargingProfiles.stackLevel })
    .from(chargingProfiles)
    .where(and(eq(chargingProfiles.tenantId, tenantId), eq(chargingProfiles.identity, identity), eq(chargingProfiles.owner, 'broker')))
    .all();
}

/** Writes what a station's accepted command changed in its CPMS profiles, in one transaction. */
export function saveCpmsProfiles(db: Db, tenantId: number, identity: string, change: { removed: readonly StoredProfile[]; added: readonly StoredProfile[] }): void {
  if (change.removed.length === 0 && change.added.length === 0) return;
  const mine = and(eq(chargingProfiles.tenantId, tenantId), eq(chargingProfiles.identity, identity), eq(chargingProfiles.owner, 'cpms'));
  db.transaction((tx) => {
    if (change.removed.length > 0) {
      tx.delete(chargingProfiles).where(and(mine, inArray(chargingProfiles.profileId, change.removed.map((p) => p.id)))).run();
    }
    for (const p of change.added) {
      const row = {
        tenantId,
        identity,
        owner: 'cpms' as const,
        profileId: p.id,
        purpose: p.purpose,
        stackLevel: p.stackLevel,
        evseId: p.evseId,
        transactionId: p.transactionId,
        profile: p.sent,
        installedAt: new Date(p.installedAt),
      };
      tx.insert(chargingProfiles)
        .values(row)
        .onConflictDoUpdate({ target: [chargingProfiles.tenantId, chargingProfiles.identity, chargingProfiles.owner, chargingProfiles.profileId], set: row })
        .run();
    }
  });
}

const policyById = (db: Db) =>
  db
    .select({ smartCharging: tenants.smartCharging, cpmsChargingPolicy: tenants.cpmsChargingPolicy })
    .from(tenants)
    .where(eq(tenants.id, sql.placeholder('id')))
    .prepare();

/**
 * Whether a tenant has smart charging on, and its policy for the CPMS's charging commands. Read for each such command
 * and each transaction end, never per frame: a prepared statement.
 */
export function chargingPolicyOf(db: Db, tenantId: number): { smartCharging: boolean; cpmsChargingPolicy: CpmsChargingPolicy } | undefined {
  return prepared(db, policyById).get({ id: tenantId });
}
