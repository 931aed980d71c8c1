import { lt } from 'drizzle-orm';
import type { Db } from './index.ts';
import { meterSamples } from './schema.ts';

/** Deletes the samples older than `before` (retention). Returns how many. */
export function pruneSamples(db: Db, before: Date): number {
  return db.delete(meterSamples).where(lt(meterSamples.at, before)).run().changes;
}
