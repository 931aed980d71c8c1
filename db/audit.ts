import { and, desc, gte, lt, lte, sql, type SQL } from 'drizzle-orm';
import type { SQLiteColumn } from 'drizzle-orm/sqlite-core';
import type { Db } from './index.ts';
import { auditLog } from './schema.ts';

/** The audit log: who changed what, when, from where, before and after. */


export interface AuditEntry {
  actor: string;
  action: string;
  target?: string | null;
  before?: unknown;
  after?: unknown;
  remoteAddress?: string | null;
}

export function appendAudit(db: Db, entry: AuditEntry): void {
  db.insert(auditLog)
    .values({ ...entry, before: entry.before ?? null, after: entry.after ?? null })
    .run();
}

/** Deletes the entries written before `before` (the retention period); returns how many. */
export function pruneAudit(db: Db, before: Date): number {
  return db.delete(auditLog).where(lt(auditLog.at, before)).run().changes;
}

export interface AuditFilter {
  /** Matches the start of the action, e.g. "tenant." */
  action?: string;
  /** Matches anywhere in the actor, e.g. "alice" */
  actor?: string;
  from?: Date;
  to?: Date;
  /** Entries older than this id (for paging). */
  beforeId?: number;
  limit: number;
}

export function listAudit(db: Db, filter: AuditFilter) {
  const where: SQL[] = [];
  if (filter.action) where.push(likeLiteral(auditLog.action, `${escapeLike(filter.action)}%`));
  if (filter.actor) where.push(likeLiteral(auditLog.actor, `%${escapeLike(filter.actor)}%`));
  if (filter.from) where.push(gte(auditLog.at, filter.from));
  if (filter.to) where.push(lte(auditLog.at, filter.to));
  if (filter.beforeId) where.push(lt(auditLog.id, filter.beforeId));
  return db
    .select()
    .from(auditLog)
    .where(and(...where))
    .orderBy(desc(auditLog.id))
    .limit(filter.limit)
    .all();
}

/** `%` and `_` in user input are taken literally. (LIKE ignores ASCII case in SQLite.) */
function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (c) => `\\${c}`);
}

function likeLiteral(column: SQLiteColumn, pattern: string): SQL {
  return sql`${column} like ${pattern} escape '\\'`;
}
