import { and, desc, eq, inArray, isNull, lt, sql } from 'drizzle-orm';
import type { Db } from './index.ts';
import { connectionEvents, tenants, type ConnectionEventRow } from './schema.ts';

export type ConnectionEventInsert = Omit<typeof connectionEvents.$inferInsert, 'id'>;

/**
 * Writes a batch of events in one transaction through one prepared statement. A tenant removed in the meantime
 * leaves the event without its tenant, instead of failing the batch.
 */
export function connectionEventWriter(db: Db): (rows: ConnectionEventInsert[]) => void {
  const p = (name: keyof ConnectionEventInsert) => sql.placeholder(name);
  const insert = db
    .insert(connectionEvents)
    .values({
      at: p('at'),
      tenantId: sql`(select ${tenants.id} from ${tenants} where ${tenants.id} = ${p('tenantId')})`,
      tenantSlug: p('tenantSlug'),
      identity: p('identity'),
      remoteAddress: p('remoteAddress'),
      kind: p('kind'),
      status: p('status'),
      code: p('code'),
      reason: p('reason'),
      subprotocol: p('subprotocol'),
      closedBy: p('closedBy'),
      durationMs: p('durationMs'),
      hint: p('hint'),
    })
    .prepare();
  return (rows) =>
    db.transaction(() => {
      for (const row of rows) {
        insert.run({
          tenantId: null,
          tenantSlug: null,
          identity: null,
          status: null,
          code: null,
          reason: null,
          subprotocol: null,
          closedBy: null,
          durationMs: null,
          hint: null,
          ...row,
        });
      }
    });
}

export interface ConnectionEventFilter {
  /** A tenant's events; null: those that matched no tenant. */
  tenantId?: number | null;
  identity?: string;
  kind?: ConnectionEventRow['kind'];
  /** Events older than this id (paging back). */
  beforeId?: number;
  limit: number;
}

/** Newest first. */
export function listConnectionEvents(db: Db, filter: ConnectionEventFilter): ConnectionEventRow[] {
  return db
    .select()
    .from(connectionEvents)
    .where(
      and(
        filter.tenantId === undefined ? undefined : filter.tenantId === null ? isNull(connectionEvents.tenantId) : eq(connectionEvents.tenantId, filter.tenantId),
        filter.identity === undefined ? undefined : eq(connectionEvents.identity, filter.identity),
        filter.kind === undefined ? undefined : eq(connectionEvents.kind, filter.kind),
        filter.beforeId === undefined ? undefined : lt(connectionEvents.id, filter.beforeId),
      ),
    )
    .orderBy(desc(connectionEvents.id))
    .limit(filter.limit)
    .all();
}

/** Deletes events older than `olderThan`, then the oldest beyond `maxRows`. Returns how many went. */
export function pruneConnectionEvents(db: Db, olderThan: Date, maxRows: number): number {
  const byAge = db.delete(connectionEvents).where(lt(connectionEvents.at, olderThan)).run().changes;
  const byCount = db.run(
    sql`delete from ${connectionEvents} where ${connectionEvents.id} <= (select ${connectionEvents.id} from ${connectionEvents} order by ${connectionEvents.id} desc limit 1 offset ${maxRows})`,
  ).changes;
  return byAge + byCount;
}

/** Refusals that mean the CPMS did not take the station: the broker reached out and failed. */
export const CPMS_FAILURE_CODES = ['CPMS_REFUSED', 'CPMS_UNREACHABLE', 'CPMS_TIMEOUT'] as const;

/** Per tenant, the last station accepted by its CPMS and the last CPMS failure, as the log has them. */
export function cpmsOutcomesFromLog(db: Db): { opened: ConnectionEventRow[]; failed: ConnectionEventRow[] } {
  const latest = (where: ReturnType<typeof and>) =>
    db
      .select()
      .from(connectionEvents)
      .where(
        inArray(
          connectionEvents.id,
          db.select({ id: sql<number>`max(${connectionEvents.id})` }).from(connectionEvents).where(where).groupBy(connectionEvents.tenantId),
        ),
      )
      .all();
  return {
    opened: latest(and(eq(connectionEvents.kind, 'opened'), sql`${connectionEvents.tenantId} is not null`)),
    failed: latest(
      and(eq(connectionEvents.kind, 'refused'), inArray(connectionEvents.code, [...CPMS_FAILURE_CODES]), sql`${connectionEvents.tenantId} is not null`),
    ),
  };
}

/** Per station of a tenant, when it was last seen (its last closed or opened event), as the log has them. */
export function lastSeenFromLog(db: Db, limit: number): { tenantId: number; identity: string; at: Date }[] {
  return db
    .select({ tenantId: sql<number>`${connectionEvents.tenantId}`, identity: sql<string>`${connectionEvents.identity}`, at: sql<number>`max(${connectionEvents.at})` })
    .from(connectionEvents)
    .where(and(inArray(connectionEvents.kind, ['opened', 'closed']), sql`${connectionEvents.tenantId} is not null`))
    .groupBy(connectionEvents.tenantId, connectionEvents.identity)
    .orderBy(desc(sql`max(${connectionEvents.at})`))
    .limit(limit)
    .all()
    .map((row) => ({ ...row, at: new Date(row.at) }));
}
