import { and, eq, gt, inArray, lt, sql } from 'drizzle-orm';
import { prepared } from './prepared.ts';
import type { Db } from './index.ts';
import { limitChanges, meterSamples, tenants } from './schema.ts';

/**
 * Deletes at most `limit` samples older than `before` (retention), station by station through meter_samples_once,
 * whose key begins with the station and the time: it reads only what it deletes, and one step of that index from
 * each station to the next, never the whole table; nor does it hold the write lock for long. Returns how many; less
 * than `limit` means none is left.
 */
export function pruneSamples(db: Db, before: Date, limit = PRUNE_STEP): number {
  let pruned = 0;
  for (const { id: tenantId } of db.select({ id: tenants.id }).from(tenants).all()) {
    let identity = ''; // no station is called ''
    while (pruned < limit) {
      const next = prepared(db, nextStation).get({ tenantId, identity });
      if (!next) break;
      identity = next.identity;
      pruned += prepared(db, oldSamplesOf).run({ tenantId, identity, before: before.getTime(), limit: limit - pruned }).changes;
    }
  }
  return pruned;
}

const nextStation = (db: Db) =>
  db
    .select({ identity: meterSamples.identity })
    .from(meterSamples)
    .where(and(eq(meterSamples.tenantId, sql.placeholder('tenantId')), gt(meterSamples.identity, sql.placeholder('identity'))))
    .orderBy(meterSamples.identity)
    .limit(1)
    .prepare();

const oldSamplesOf = (db: Db) =>
  db
    .delete(meterSamples)
    .where(
      inArray(
        meterSamples.id,
        db
          .select({ id: meterSamples.id })
          .from(meterSamples)
          .where(
            and(
              eq(meterSamples.tenantId, sql.placeholder('tenantId')),
              eq(meterSamples.identity, sql.placeholder('identity')),
              lt(meterSamples.at, sql.placeholder('before')),
            ),
          )
          .limit(sql.placeholder('limit')),
      ),
    )
    .prepare();

/** Samples deleted per step of retention (server/app.ts takes a step, lets the traffic through, takes the next). */
export const PRUNE_STEP = 10_000;

/** Keeps smart charging's limit log to `maxRows` rows and to what is newer than `before`. Returns how many went. */
export function pruneLimitChanges(db: Db, before: Date, maxRows: number): number {
  let pruned = db.delete(limitChanges).where(lt(limitChanges.at, before)).run().changes;
  const oldestGone = db.select({ id: limitChanges.id }).from(limitChanges).orderBy(sql`${limitChanges.id} desc`).limit(1).offset(maxRows).get();
  if (oldestGone) pruned += db.delete(limitChanges).where(sql`${limitChanges.id} <= ${oldestGone.id}`).run().changes;
  return pruned;
}
