import { and, eq, sql } from 'drizzle-orm';
import type { Db } from './index.ts';
import { prepared } from './prepared.ts';
import { stations } from './schema.ts';

/** What the API shows of a registered station: whether its secrets are set, never the secrets. */
export interface StationView {
  id: number;
  tenantId: number;
  identity: string;
  description: string;
  passwordSet: boolean;
  cpmsPasswordSet: boolean;
  certificateFingerprint: string | null;
  siteId: number | null;
  maxCurrentA: number;
  phases: number;
  phase: 'L1' | 'L2' | 'L3';
  priority: number;
  excluded: boolean;
  uncontrollable: boolean;
  /** Why dispatch marked it uncontrollable: `rejected` (a profile was Rejected or NotSupported) or `overdraw`. */
  uncontrollableReason: string | null;
  uncontrollableSince: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

type Row = typeof stations.$inferSelect;
type AssignmentColumn = 'maxCurrentA' | 'phases' | 'phase' | 'priority' | 'excluded' | 'uncontrollable' | 'uncontrollableReason' | 'uncontrollableSince';

function view({ passwordHash, cpmsPasswordSealed, ...row }: Row): StationView {
  return { ...row, passwordSet: passwordHash !== null, cpmsPasswordSet: cpmsPasswordSealed !== null };
}

export function listStations(db: Db, tenantId: number): StationView[] {
  return db.select().from(stations).where(eq(stations.tenantId, tenantId)).orderBy(stations.identity).all().map(view);
}

export function getStation(db: Db, id: number): StationView | undefined {
  const row = db.select().from(stations).where(eq(stations.id, id)).get();
  return row && view(row);
}

const stationCredentials = (db: Db) =>
  db
    .select({
      id: stations.id,
      passwordHash: stations.passwordHash,
      cpmsPasswordSealed: stations.cpmsPasswordSealed,
      certificateFingerprint: stations.certificateFingerprint,
    })
    .from(stations)
    .where(and(eq(stations.tenantId, sql.placeholder('tenantId')), eq(stations.identity, sql.placeholder('identity'))))
    .prepare();

/** The station's credentials, for authenticating it and connecting it on (the broker only; a prepared statement). */
export function findStationCredentials(db: Db, tenantId: number, identity: string) {
  return prepared(db, stationCredentials).get({ tenantId, identity });
}

export function findSealedCpmsPassword(db: Db, id: number): string | null | undefined {
  return db.select({ sealed: stations.cpmsPasswordSealed }).from(stations).where(eq(stations.id, id)).get()?.sealed;
}

export function createStation(db: Db, input: { tenantId: number; identity: string; description: string }): StationView {
  return view(db.insert(stations).values(input).returning().get());
}

export function updateStation(
  db: Db,
  id: number,
  changes: Partial<Pick<Row, 'description' | 'passwordHash' | 'cpmsPasswordSealed' | 'certificateFingerprint' | 'siteId' | AssignmentColumn>>,
): StationView | undefined {
  const row = db.update(stations).set({ ...changes, updatedAt: new Date() }).where(eq(stations.id, id)).returning().get();
  return row && view(row);
}

/** Stores a station's password hash in a newer form, unless the password was changed meanwhile. */
export function upgradeStationPasswordHash(db: Db, id: number, from: string, to: string): void {
  db.update(stations).set({ passwordHash: to }).where(and(eq(stations.id, id), eq(stations.passwordHash, from))).run();
}

export function removeStation(db: Db, id: number): void {
  db.delete(stations).where(eq(stations.id, id)).run();
}
