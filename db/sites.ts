import { and, asc, desc, eq, gte, inArray, isNull, lt, lte, sql } from 'drizzle-orm';
import type { SiteCreate, SiteUpdate } from '../contract/sites.ts';
import type { Db } from './index.ts';
import { connectorStatus, limitChanges, meterSamples, sites, stations, tenants, transactions, type Site } from './schema.ts';

export type SiteView = Site;

export function listSites(db: Db, tenantId: number): SiteView[] {
  return db.select().from(sites).where(eq(sites.tenantId, tenantId)).orderBy(sites.name).all();
}

export function getSite(db: Db, id: number): SiteView | undefined {
  return db.select().from(sites).where(eq(sites.id, id)).get();
}

export function createSite(db: Db, input: SiteCreate): SiteView {
  return db.insert(sites).values(input).returning().get();
}

export function updateSite(db: Db, { id, ...changes }: SiteUpdate): SiteView | undefined {
  return db.update(sites).set({ ...changes, updatedAt: new Date() }).where(eq(sites.id, id)).returning().get();
}

/** Its stations stay registered, assigned to no site. */
export function removeSite(db: Db, id: number): boolean {
  return db.delete(sites).where(eq(sites.id, id)).run().changes > 0;
}

/** The columns of a station that smart charging reads: never its secrets. */
export const assignmentColumns = {
  id: stations.id,
  identity: stations.identity,
  description: stations.description,
  siteId: stations.siteId,
  maxCurrentA: stations.maxCurrentA,
  phases: stations.phases,
  phase: stations.phase,
  priority: stations.priority,
  excluded: stations.excluded,
  uncontrollable: stations.uncontrollable,
  uncontrollableReason: stations.uncontrollableReason,
  uncontrollableSince: stations.uncontrollableSince,
};

export function stationsOfSite(db: Db, siteId: number) {
  return db.select(assignmentColumns).from(stations).where(eq(stations.siteId, siteId)).orderBy(stations.identity).all();
}

export type AssignedStation = ReturnType<typeof stationsOfSite>[number];

/**
 * The open transactions of some of a tenant's stations, each with its latest current (the highest phase of its latest
 * Current.Import reading), latest power (Power.Active.Import, all phases) and its connector's status.
 */
export function openSessions(db: Db, tenantId: number, identities: string[]) {
  if (identities.length === 0) return [];
  const open = db
    .select({
      id: transactions.id,
      identity: transactions.identity,
      transactionId: transactions.transactionId,
      evseId: transactions.evseId,
      connectorId: transactions.connectorId,
      startedAt: transactions.startedAt,
    })
    .from(transactions)
    .where(and(eq(transactions.tenantId, tenantId), inArray(transactions.identity, identities), eq(transactions.state, 'active')))
    .orderBy(asc(transactions.startedAt), asc(transactions.id))
    .limit(1_000)
    .all();
  return open.map((t) => {
    const latest = (measurand: string, perPhase: boolean) =>
      db
        .select({ value: meterSamples.value, at: meterSamples.at, phase: meterSamples.phase })
        .from(meterSamples)
        .where(and(eq(meterSamples.transactionRef, t.id), eq(meterSamples.measurand, measurand), perPhase ? undefined : isNull(meterSamples.phase)))
        .orderBy(desc(meterSamples.at))
        .limit(6)
        .all();
    const currents = latest('Current.Import', true);
    const currentAt = currents[0]?.at;
    const current = currentAt === undefined ? null : Math.max(...currents.filter((c) => c.at.getTime() === currentAt.getTime()).map((c) => c.value));
    const power = latest('Power.Active.Import', false)[0];
    const status = db
      .select({ status: connectorStatus.status, at: connectorStatus.at })
      .from(connectorStatus)
      .where(
        and(
          eq(connectorStatus.tenantId, tenantId),
          eq(connectorStatus.identity, t.identity),
          t.evseId === null ? eq(connectorStatus.evseId, 0) : eq(connectorStatus.evseId, t.evseId),
          t.connectorId === null ? undefined : eq(connectorStatus.connectorId, t.connectorId),
        ),
      )
      .orderBy(desc(connectorStatus.at))
      .get();
    return {
      ...t,
      currentA: current,
      currentAt: currentAt ?? null,
      powerW: power?.value ?? null,
      powerAt: power?.at ?? null,
      status: status?.status ?? null,
    };
  });
}

export type OpenSession = ReturnType<typeof openSessions>[number];

/**
 * The load of some stations per minute, oldest first: each station's average Power.Active.Import (all phases, W) in the
 * minute, summed over the stations that sent one. At most `maxMinutes` rows.
 */
export function loadPerMinute(db: Db, tenantId: number, identities: string[], from: Date, to: Date, maxMinutes = 2_880) {
  if (identities.length === 0) return [];
  const rows = db.all<{ minute: number; watts: number }>(sql`
    select minute, sum(watts) as watts from (
      select ${meterSamples.at} / 60000 as minute, ${meterSamples.identity}, avg(${meterSamples.value}) as watts
      from ${meterSamples}
      where ${and(
        eq(meterSamples.tenantId, tenantId),
        inArray(meterSamples.identity, identities),
        eq(meterSamples.measurand, 'Power.Active.Import'),
        isNull(meterSamples.phase),
        gte(meterSamples.at, from),
        lte(meterSamples.at, to),
      )}
      group by minute, ${meterSamples.identity}
    ) group by minute order by minute limit ${maxMinutes}`);
  return rows
    .map((row) => ({ at: new Date(Number(row.minute) * 60_000), watts: Number(row.watts) }));
}

/** Every site with its tenant's slug (for metrics). */
export function allSites(db: Db) {
  return db.select({ site: sites, tenantSlug: tenants.slug }).from(sites).innerJoin(tenants, eq(tenants.id, sites.tenantId)).orderBy(sites.id).limit(10_000).all();
}

/** A page of a site's limit change log: at most this many entries. */
export const LIMIT_CHANGES_PAGE_MAX = 200;

/**
 * The limits the broker sent a site's stations with their answers, newest first: `limit` (at most
 * LIMIT_CHANGES_PAGE_MAX) of them, older than the entry `before` (an id) when given; `more` says whether older ones exist.
 */
export function limitChangesOfSite(db: Db, siteId: number, page: { limit: number; before?: number }) {
  const limit = Math.min(Math.max(1, page.limit), LIMIT_CHANGES_PAGE_MAX);
  const rows = db
    .select({
      id: limitChanges.id,
      identity: limitChanges.identity,
      transactionId: limitChanges.transactionId,
      purpose: limitChanges.purpose,
      fromA: limitChanges.fromA,
      toA: limitChanges.toA,
      reason: limitChanges.reason,
      outcome: limitChanges.outcome,
      at: limitChanges.at,
    })
    .from(limitChanges)
    .where(and(eq(limitChanges.siteId, siteId), page.before === undefined ? undefined : lt(limitChanges.id, page.before)))
    .orderBy(desc(limitChanges.id))
    .limit(limit + 1)
    .all();
  return { changes: rows.slice(0, limit), more: rows.length > limit };
}
