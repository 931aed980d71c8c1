import { createHash, type X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { Directory } from '../broker/index.ts';
import { appendAudit } from '../db/accounts.ts';
import { certificatesOf } from '../db/certificates.ts';
import type { Db } from '../db/index.ts';
import { findSealedCpmsPassword, findStationCredentials } from '../db/stations.ts';
import { getTenantBySlug } from '../db/tenants.ts';
import { verifyPassword } from './auth/password.ts';
import type { Sealer } from './auth/seal.ts';
import { parseCertificates } from './tls/x509.ts';

/** Where each sealed value lives: the context it is sealed with (server/auth/seal.ts). */
export const sealContext = {
  cpmsPassword: (stationId: number) => `station:${stationId}:cpmsPassword`,
  privateKey: (certificateId: number) => `certificate:${certificateId}:key`,
};

/** Station passwords that verified recently, so a reconnecting station does not cost a scrypt run each time. */
const VERIFIED_LIMIT = 10_000;

/** The broker's view of the database: tenants, stations and the sealed secrets it opens on the way. */
export function createDirectory(db: Db, sealer: Sealer, log: Logger): Directory {
  const verified = new Map<string, true>();

  return {
    tenant: (slug) => getTenantBySlug(db, slug),
    station: (tenantId, identity) => findStationCredentials(db, tenantId, identity),

    async checkPassword(hash, password) {
      const key = createHash('sha256').update(hash).update('\0').update(password).digest('base64');
      if (verified.has(key)) return true;
      if (!(await verifyPassword(password, hash))) return false;
      if (verified.size >= VERIFIED_LIMIT) verified.delete(verified.keys().next().value!);
      verified.set(key, true);
      return true;
    },

    stationCas: (tenantId) => pems(certificatesOf(db, 'station-ca', tenantId)).flatMap(parseCertificates) as X509Certificate[],

    cpmsPassword(stationId) {
      const sealed = findSealedCpmsPassword(db, stationId);
      return sealed ? sealer.open(sealed, sealContext.cpmsPassword(stationId)) : undefined;
    },

    cpmsCas: (tenantId) => pems(certificatesOf(db, 'cpms-ca', tenantId)),

    cpmsClientCertificate(tenantId, stationId) {
      const own = stationId === undefined ? [] : certificatesOf(db, 'cpms-client', tenantId, stationId);
      const chosen = [...own, ...certificatesOf(db, 'cpms-client', tenantId, null)].find((c) => c.certificatePem && c.keySealed);
      if (!chosen) return undefined;
      return { cert: chosen.certificatePem!, key: sealer.open(chosen.keySealed!, sealContext.privateKey(chosen.id)).toString() };
    },

    authenticationFailed({ tenant, identity, remoteAddress, reason }) {
      log.warn({ event: 'station.auth_failed', tenant, identity, remoteAddress, reason }, 'station authentication failed');
      appendAudit(db, {
        actor: `station:${tenant}/${identity}`,
        action: 'station.auth_failed',
        target: `station:${tenant}/${identity}`,
        after: { reason },
        remoteAddress,
      });
    },
  };
}

function pems(rows: { certificatePem: string | null }[]): string[] {
  return rows.flatMap((row) => (row.certificatePem ? [row.certificatePem] : []));
}
