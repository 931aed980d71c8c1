import { lt, sql } from 'drizzle-orm';
import type { Db } from './index.ts';
import { limitChanges, meterSamples } from './schema.ts';

/** Deletes the samples older than `before` (retention). Returns how many. */
export function pruneSamples(db: Db, before: Date): number {
  return db.delete(meterSamples).where(lt(meterSamples.at, before)).run().changes;
}

/** Keeps smart charging's limit log to `maxRows` rows and to what is newer than `before`. Returns how many went. */
export function pruneLimitChanges(db: Db, before: Date, maxRows: number): number {
  let pruned = db.delete(limitChanges).where(lt(limitChanges.at, before)).run().changes;
  const oldestGone = db.select({ id: limitChanges.id }).from(limitChanges).orderBy(sql`${limitChanges.id} desc`).limit(1).offset(maxRows).get();
  if (oldestGone) pruned += db.delete(limitChanges).where(sql`${limitChanges.id} <= ${oldestGone.id}`).run().changes;
  return pruned;
}
