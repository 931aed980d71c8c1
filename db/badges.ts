import { and, count, eq, sql } from 'drizzle-orm';
import type { Db } from './index.ts';
import { badgeMatchKey } from '../contract/index.ts';
import { badges, drivers } from './schema.ts';

/** The driver a badge belongs to in a tenant, if any. */
export function findDriverByBadge(db: Db, tenantId: number, badge: string): { id: number; email: string; blocked: boolean } | undefined {
  return db
    .select({ id: drivers.id, email: drivers.email, blocked: drivers.blocked })
    .from(badges)
    .innerJoin(drivers, eq(drivers.id, badges.driverId))
    .where(and(eq(badges.tenantId, tenantId), eq(badges.matchKey, badgeMatchKey(badge))))
    .get();
}

/** Badges of a tenant longer than `maxLength` characters: how many, and one of them. */
export function badgesLongerThan(db: Db, tenantId: number, maxLength: number): { count: number; example: string | undefined } {
  const longer = and(eq(badges.tenantId, tenantId), sql`length(${badges.badgeId}) > ${maxLength}`);
  return {
    count: db.select({ n: count() }).from(badges).where(longer).get()!.n,
    example: db.select({ badgeId: badges.badgeId }).from(badges).where(longer).limit(1).get()?.badgeId,
  };
}
