import { and, count, eq, gt, inArray, lte, max, ne, or, sql, type SQL } from 'drizzle-orm';
import { badgeMatchKey } from '../contract/index.ts';
import type { Db } from './index.ts';
import { badges, drivers } from './schema.ts';

/** A driver as the API shows it: badges as the operator wrote them, in the order they were given. */
export interface DriverView {
  id: number;
  tenantId: number;
  email: string;
  blocked: boolean;
  badgeIds: string[];
  createdAt: Date;
  updatedAt: Date;
}

/** A stored badge: as written, and the key matching compares (db/badges.ts). */
export interface StoredBadge {
  badgeId: string;
  matchKey: string;
}

const driverColumns = {
  id: drivers.id,
  tenantId: drivers.tenantId,
  email: drivers.email,
  blocked: drivers.blocked,
  createdAt: drivers.createdAt,
  updatedAt: drivers.updatedAt,
};

function byDriver(rows: ({ driverId: number } & StoredBadge)[]): Map<number, StoredBadge[]> {
  const grouped = new Map<number, StoredBadge[]>();
  for (const { driverId, ...badge } of rows) {
    const list = grouped.get(driverId);
    if (list) list.push(badge);
    else grouped.set(driverId, [badge]);
  }
  return grouped;
}

const badgeColumns = { driverId: badges.driverId, badgeId: badges.badgeId, matchKey: badges.matchKey };

function withBadges(db: Db, rows: Omit<DriverView, 'badgeIds'>[]): DriverView[] {
  const ids = rows.map((row) => row.id);
  const grouped = byDriver(db.select(badgeColumns).from(badges).where(inArray(badges.driverId, ids)).orderBy(badges.id).all());
  return rows.map((row) => ({ ...row, badgeIds: (grouped.get(row.id) ?? []).map((b) => b.badgeId) }));
}

/** `%text%` for LIKE, with LIKE's own wildcards taken literally. */
function containing(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}

/**
 * A page of a tenant's drivers by email, and how many there are. `search` finds a part of an email or of a badge
 * (ignoring case).
 */
export function listDrivers(
  db: Db,
  { tenantId, search, limit, offset }: { tenantId: number; search?: string; limit: number; offset: number },
): { total: number; drivers: DriverView[] } {
  let where: SQL | undefined = eq(drivers.tenantId, tenantId);
  if (search) {
    const pattern = containing(search.toLowerCase());
    const badgeMatch = sql`exists (select 1 from ${badges} where ${badges.driverId} = ${drivers.id} and ${badges.matchKey} like ${pattern} escape '\\')`;
    where = and(where, or(sql`${drivers.email} like ${pattern} escape '\\'`, badgeMatch));
  }
  const total = db.select({ n: count() }).from(drivers).where(where).get()!.n;
  const page = db.select(driverColumns).from(drivers).where(where).orderBy(drivers.email).limit(limit).offset(offset).all();
  return { total, drivers: withBadges(db, page) };
}

export function getDriver(db: Db, id: number): DriverView | undefined {
  const row = db.select(driverColumns).from(drivers).where(eq(drivers.id, id)).get();
  return row && withBadges(db, [row])[0];
}

/** The drivers of other emails that already hold any of these badges (by match key). */
export function badgeOwners(
  db: Db,
  tenantId: number,
  badgeIds: string[],
  exceptDriverId?: number,
): { badgeId: string; email: string }[] {
  const byKey = new Map(badgeIds.map((badge) => [badgeMatchKey(badge), badge]));
  if (byKey.size === 0) return [];
  const conditions = [eq(badges.tenantId, tenantId), inArray(badges.matchKey, [...byKey.keys()])];
  if (exceptDriverId !== undefined) conditions.push(ne(badges.driverId, exceptDriverId));
  return db
    .select({ matchKey: badges.matchKey, email: drivers.email })
    .from(badges)
    .innerJoin(drivers, eq(drivers.id, badges.driverId))
    .where(and(...conditions))
    .all()
    .map(({ matchKey, email }) => ({ badgeId: byKey.get(matchKey)!, email }));
}

export function findDriverIdByEmail(db: Db, tenantId: number, email: string): number | undefined {
  return db.select({ id: drivers.id }).from(drivers).where(and(eq(drivers.tenantId, tenantId), eq(drivers.email, email))).get()?.id;
}

function stored(badgeIds: string[]): StoredBadge[] {
  return badgeIds.map((badge) => ({ badgeId: badge.trim(), matchKey: badgeMatchKey(badge) }));
}

function insertBadges(db: Db, tenantId: number, driverId: number, list: StoredBadge[]): void {
  if (list.length === 0) return;
  db.insert(badges)
    .values(list.map((badge) => ({ tenantId, driverId, ...badge })))
    .run();
}

/** Creates a driver with its badges. The caller checks badge owners first; a taken email throws SQLITE_CONSTRAINT_UNIQUE. */
export function createDriver(db: Db, input: { tenantId: number; email: string; badgeIds: string[]; blocked?: boolean }): DriverView {
  const id = db.transaction(() => {
    const { id } = db
      .insert(drivers)
      .values({ tenantId: input.tenantId, email: input.email, blocked: input.blocked ?? false })
      .returning({ id: drivers.id })
      .get();
    insertBadges(db, input.tenantId, id, stored(input.badgeIds));
    return id;
  });
  return getDriver(db, id)!;
}

/** Changes what is given; `badgeIds` replaces the driver's badges. */
export function updateDriver(
  db: Db,
  id: number,
  changes: { email?: string; blocked?: boolean; badgeIds?: string[] },
): DriverView | undefined {
  const { badgeIds, ...columns } = changes;
  const updated = db.transaction(() => {
    const row = db.update(drivers).set({ ...columns, updatedAt: new Date() }).where(eq(drivers.id, id)).returning(driverColumns).get();
    if (row && badgeIds) {
      db.delete(badges).where(eq(badges.driverId, id)).run();
      insertBadges(db, row.tenantId, id, stored(badgeIds));
    }
    return row !== undefined;
  });
  return updated ? getDriver(db, id) : undefined;
}

export function removeDriver(db: Db, id: number): void {
  db.delete(drivers).where(eq(drivers.id, id)).run();
}

// What imports and exports need: the list page by page, a cheap way to notice changes, and one bulk write.

/** A tenant's drivers by email after `afterEmail`, with their badges: to read a large list a page at a time. */
export function driverPage(
  db: Db,
  tenantId: number,
  afterEmail: string,
  limit: number,
): { id: number; email: string; blocked: boolean; badges: StoredBadge[] }[] {
  const rows = db
    .select({ id: drivers.id, email: drivers.email, blocked: drivers.blocked })
    .from(drivers)
    .where(and(eq(drivers.tenantId, tenantId), gt(drivers.email, afterEmail)))
    .orderBy(drivers.email)
    .limit(limit)
    .all();
  if (rows.length === 0) return [];
  const grouped = byDriver(
    db
      .select(badgeColumns)
      .from(badges)
      .innerJoin(drivers, eq(drivers.id, badges.driverId))
      .where(and(eq(drivers.tenantId, tenantId), gt(drivers.email, afterEmail), lte(drivers.email, rows.at(-1)!.email)))
      .orderBy(badges.id)
      .all(),
  );
  return rows.map((row) => ({ ...row, badges: grouped.get(row.id) ?? [] }));
}

/**
 * Changes whenever a tenant's driver list does (a driver or badge added, changed or removed): an import reads the
 * list over several turns of the event loop and checks this before writing.
 */
export function driverListVersion(db: Db, tenantId: number): string {
  const d = db
    .select({ n: count(), maxId: max(drivers.id), maxUpdated: max(drivers.updatedAt) })
    .from(drivers)
    .where(eq(drivers.tenantId, tenantId))
    .get()!;
  const b = db.select({ n: count(), maxId: max(badges.id) }).from(badges).where(eq(badges.tenantId, tenantId)).get()!;
  return [d.n, d.maxId, d.maxUpdated?.getTime(), b.n, b.maxId].join(':');
}

export interface DriverChanges {
  tenantId: number;
  /** Drivers to remove, with their badges. */
  remove: number[];
  /** Drivers whose badges become these. */
  update: { id: number; badges: StoredBadge[] }[];
  add: { email: string; badges: StoredBadge[] }[];
}

/**
 * Writes an import, a prepared statement per kind of change (about twice as fast as multi-row inserts, whose SQL
 * drizzle builds anew for each batch). Call it inside a transaction: it removes first, then frees the badges of
 * updated drivers, then inserts, so that a badge may move from one driver to another within one import.
 */
export function writeDriverChanges(db: Db, { tenantId, remove, update, add }: DriverChanges): void {
  const now = new Date();
  const id = sql.placeholder('id');
  const removeDriver = db.delete(drivers).where(eq(drivers.id, id)).prepare();
  const clearBadges = db.delete(badges).where(eq(badges.driverId, id)).prepare();
  const touchDriver = db.update(drivers).set({ updatedAt: now }).where(eq(drivers.id, id)).prepare();
  const insertDriver = db
    .insert(drivers)
    .values({ tenantId, email: sql.placeholder('email'), createdAt: now, updatedAt: now })
    .returning({ id: drivers.id })
    .prepare();
  const insertBadge = db
    .insert(badges)
    .values({ tenantId, driverId: id, badgeId: sql.placeholder('badgeId'), matchKey: sql.placeholder('matchKey') })
    .prepare();

  for (const driverId of remove) removeDriver.run({ id: driverId });
  for (const driver of update) {
    clearBadges.run({ id: driver.id });
    touchDriver.run({ id: driver.id });
  }
  for (const driver of update) {
    for (const badge of driver.badges) insertBadge.run({ id: driver.id, ...badge });
  }
  for (const driver of add) {
    const { id: driverId } = insertDriver.get({ email: driver.email })!;
    for (const badge of driver.badges) insertBadge.run({ id: driverId, ...badge });
  }
}
