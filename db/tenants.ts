import { eq, sql } from 'drizzle-orm';
import type { Db } from './index.ts';
import { prepared } from './prepared.ts';
import { tenants, type Tenant } from './schema.ts';
import { cpmsAuthOf, type TenantCreate, type TenantUpdate } from '../contract/index.ts';

/** The columns the API may show. Listed one by one so that a secret added later is never selected by accident. */
const publicColumns = {
  id: tenants.id,
  name: tenants.name,
  slug: tenants.slug,
  cpmsUrl: tenants.cpmsUrl,
  enabled: tenants.enabled,
  stationProfile: tenants.stationProfile,
  allowUnknownStations: tenants.allowUnknownStations,
  profile1OverTls: tenants.profile1OverTls,
  organization: tenants.organization,
  cpmsProfile: tenants.cpmsProfile,
  cpmsAuth: tenants.cpmsAuth,
  ocppVersion: tenants.ocppVersion,
  authorizationMode: tenants.authorizationMode,
  smartCharging: tenants.smartCharging,
  cpmsChargingPolicy: tenants.cpmsChargingPolicy,
  createdAt: tenants.createdAt,
  updatedAt: tenants.updatedAt,
};

export type TenantView = Pick<Tenant, keyof typeof publicColumns>;

export function listTenants(db: Db): TenantView[] {
  return db.select(publicColumns).from(tenants).orderBy(tenants.name).all();
}

export function getTenant(db: Db, id: number): TenantView | undefined {
  return db.select(publicColumns).from(tenants).where(eq(tenants.id, id)).get();
}

const tenantBySlug = (db: Db) => db.select(publicColumns).from(tenants).where(eq(tenants.slug, sql.placeholder('slug'))).prepare();

/** Looked up for each station's handshake: a prepared statement. */
export function getTenantBySlug(db: Db, slug: string): TenantView | undefined {
  return prepared(db, tenantBySlug).get({ slug });
}

/** Without a password toward the CPMS, the one that goes with the station profile. */
export function createTenant(db: Db, input: TenantCreate): TenantView {
  return db.insert(tenants).values({ ...input, cpmsAuth: cpmsAuthOf(input) }).returning(publicColumns).get();
}

export function updateTenant(db: Db, { id, ...changes }: TenantUpdate): TenantView | undefined {
  return db
    .update(tenants)
    .set({ ...changes, updatedAt: new Date() })
    .where(eq(tenants.id, id))
    .returning(publicColumns)
    .get();
}

export function removeTenant(db: Db, id: number): boolean {
  return db.delete(tenants).where(eq(tenants.id, id)).run().changes > 0;
}
