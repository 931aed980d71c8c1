import { and, eq, isNull, sql } from 'drizzle-orm';
import type { Db } from './index.ts';
import { prepared } from './prepared.ts';
import { certificates, type Certificate, type CertificateKind } from './schema.ts';

export function listCertificates(db: Db): Certificate[] {
  return db.select().from(certificates).orderBy(certificates.kind, certificates.id).all();
}

export function getCertificate(db: Db, id: number): Certificate | undefined {
  return db.select().from(certificates).where(eq(certificates.id, id)).get();
}

/** The certificates of one kind for a tenant (or the broker's own, `tenantId` null), optionally of one station. */
const ofTenantKind = (db: Db) =>
  db
    .select()
    .from(certificates)
    .where(and(eq(certificates.kind, sql.placeholder('kind')), eq(certificates.tenantId, sql.placeholder('tenantId'))))
    .prepare();

export function certificatesOf(db: Db, kind: CertificateKind, tenantId: number | null, stationId?: number | null): Certificate[] {
  // A tenant's CAs are read for each station's handshake: that one shape is a prepared statement.
  if (tenantId !== null && stationId === undefined) return prepared(db, ofTenantKind).all({ kind, tenantId });
  return db
    .select()
    .from(certificates)
    .where(
      and(
        eq(certificates.kind, kind),
        tenantId === null ? isNull(certificates.tenantId) : eq(certificates.tenantId, tenantId),
        stationId === undefined ? undefined : stationId === null ? isNull(certificates.stationId) : eq(certificates.stationId, stationId),
      ),
    )
    .all();
}

export function insertCertificate(db: Db, row: typeof certificates.$inferInsert): Certificate {
  return db.insert(certificates).values(row).returning().get();
}

export function updateCertificate(db: Db, id: number, changes: Partial<typeof certificates.$inferInsert>): void {
  db.update(certificates).set(changes).where(eq(certificates.id, id)).run();
}

export function removeCertificate(db: Db, id: number): void {
  db.delete(certificates).where(eq(certificates.id, id)).run();
}
