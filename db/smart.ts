import { and, count, eq, inArray, isNotNull, isNull, or, sql } from 'drizzle-orm';
import type { Db } from './index.ts';
import { chargingProfiles, limitChanges, smartOffers, stations, tenants } from './schema.ts';

/** What dispatch keeps in SQLite (server/smart/dispatch.ts): the broker's profiles, the offers in force, the limit log. */

export type BrokerProfile = typeof chargingProfiles.$inferSelect;
export type OfferRow = typeof smartOffers.$inferSelect;

/** The stations of tenants with smart charging on that are assigned to a site: what dispatch watches. */
export function smartAssignments(db: Db): { tenantId: number; identity: string; siteId: number }[] {
  return db
    .select({ tenantId: stations.tenantId, identity: stations.identity, siteId: stations.siteId })
    .from(stations)
    .innerJoin(tenants, eq(tenants.id, stations.tenantId))
    .where(and(eq(tenants.smartCharging, true), isNotNull(stations.siteId)))
    .limit(100_000)
    .all() as { tenantId: number; identity: string; siteId: number }[];
}

/**
 * The broker's own profiles on stations it no longer controls (smart charging turned off, the station assigned to no
 * site, excluded, or removed from the registry): to be cleared, so that they hold the station back no longer.
 */
export function releasedBrokerProfiles(db: Db, limit = 1_000): BrokerProfile[] {
  return db
    .select({ profile: chargingProfiles })
    .from(chargingProfiles)
    .leftJoin(stations, and(eq(stations.tenantId, chargingProfiles.tenantId), eq(stations.identity, chargingProfiles.identity)))
    .innerJoin(tenants, eq(tenants.id, chargingProfiles.tenantId))
    .where(
      and(
        eq(chargingProfiles.owner, 'broker'),
        or(eq(tenants.smartCharging, false), isNull(stations.id), isNull(stations.siteId), eq(stations.excluded, true)),
      ),
    )
    .limit(limit)
    .all()
    .map((row) => row.profile);
}

/** The broker's own profiles installed on some stations of a tenant, as far as it knows. */
export function brokerProfiles(db: Db, tenantId: number, identities: string[]): BrokerProfile[] {
  if (identities.length === 0) return [];
  return db
    .select()
    .from(chargingProfiles)
    .where(and(eq(chargingProfiles.tenantId, tenantId), eq(chargingProfiles.owner, 'broker'), inArray(chargingProfiles.identity, identities)))
    .limit(10_000)
    .all();
}

/** The station Accepted this profile: it replaces whatever the broker had under the same id there. */
export function saveBrokerProfile(db: Db, row: Omit<typeof chargingProfiles.$inferInsert, 'owner' | 'id'>): void {
  db.insert(chargingProfiles)
    .values({ ...row, owner: 'broker' })
    .onConflictDoUpdate({
      target: [chargingProfiles.tenantId, chargingProfiles.identity, chargingProfiles.owner, chargingProfiles.profileId],
      set: {
        purpose: row.purpose,
        stackLevel: row.stackLevel,
        evseId: row.evseId,
        transactionId: row.transactionId ?? null,
        profile: row.profile,
        limitA: row.limitA ?? null,
        installedAt: new Date(),
      },
    })
    .run();
}

/** Forgets the broker's profiles of a station (all, or one id): it no longer holds them, or may not. */
export function dropBrokerProfiles(db: Db, tenantId: number, identity: string, profileId?: number): void {
  db.delete(chargingProfiles)
    .where(
      and(
        eq(chargingProfiles.tenantId, tenantId),
        eq(chargingProfiles.identity, identity),
        eq(chargingProfiles.owner, 'broker'),
        profileId === undefined ? undefined : eq(chargingProfiles.profileId, profileId),
      ),
    )
    .run();
}

export function siteOffers(db: Db, siteId: number): OfferRow[] {
  return db.select().from(smartOffers).where(eq(smartOffers.siteId, siteId)).limit(10_000).all();
}

export function saveOffer(db: Db, row: Omit<typeof smartOffers.$inferInsert, 'updatedAt'>): void {
  db.insert(smartOffers)
    .values({ ...row, updatedAt: new Date() })
    .onConflictDoUpdate({
      target: [smartOffers.tenantId, smartOffers.identity, smartOffers.transactionId],
      set: {
        siteId: row.siteId,
        offerA: row.offerA,
        reason: row.reason,
        chargingSince: row.chargingSince ?? null,
        waitingSince: row.waitingSince ?? null,
        updatedAt: new Date(),
      },
    })
    .run();
}

export function dropOffer(db: Db, tenantId: number, identity: string, transactionId: string): void {
  db.delete(smartOffers)
    .where(and(eq(smartOffers.tenantId, tenantId), eq(smartOffers.identity, identity), eq(smartOffers.transactionId, transactionId)))
    .run();
}

export function logLimitChange(db: Db, row: Omit<typeof limitChanges.$inferInsert, 'id'>): void {
  db.insert(limitChanges).values(row).run();
}

/** Marks a station uncontrollable (counted at its maximum); true when it was not already. */
export function markUncontrollable(db: Db, tenantId: number, identity: string, reason: string, at: Date): boolean {
  return (
    db
      .update(stations)
      .set({ uncontrollable: true, uncontrollableReason: reason, uncontrollableSince: at })
      .where(and(eq(stations.tenantId, tenantId), eq(stations.identity, identity), eq(stations.uncontrollable, false)))
      .run().changes > 0
  );
}

/** The station complies again (it Accepted a profile, or an admin said so); true when it was marked. */
export function clearUncontrollable(db: Db, tenantId: number, identity: string): boolean {
  return (
    db
      .update(stations)
      .set({ uncontrollable: false, uncontrollableReason: null, uncontrollableSince: null })
      .where(and(eq(stations.tenantId, tenantId), eq(stations.identity, identity), eq(stations.uncontrollable, true)))
      .run().changes > 0
  );
}

/** Uncontrollable stations per site, for the metric. */
export function uncontrollableBySite(db: Db): Map<number, number> {
  const rows = db
    .select({ siteId: stations.siteId, n: count() })
    .from(stations)
    .where(and(eq(stations.uncontrollable, true), isNotNull(stations.siteId)))
    .groupBy(stations.siteId)
    .all();
  return new Map(rows.map((r) => [r.siteId!, r.n]));
}
