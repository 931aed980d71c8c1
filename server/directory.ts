import type { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { Directory } from '../broker/index.ts';
import { appendAudit } from '../db/audit.ts';
import { certificatesOf } from '../db/certificates.ts';
import type { Db } from '../db/index.ts';
import { findSealedCpmsPassword, findStationCredentials, upgradeStationPasswordHash } from '../db/stations.ts';
import { getTenantBySlug } from '../db/tenants.ts';
import { Busy } from './auth/bounded.ts';
import type { Sealer } from './auth/seal.ts';
import { stationPasswordKey, verifyStationPassword } from './auth/station-password.ts';
import { parseCertificates } from './tls/x509.ts';

/** Where each sealed value lives: the context it is sealed with (server/auth/seal.ts). */
export const sealContext = {
  cpmsPassword: (stationId: number) => `station:${stationId}:cpmsPassword`,
  privateKey: (certificateId: number) => `certificate:${certificateId}:key`,
};

/** The broker's view of the database: tenants, stations and the sealed secrets it opens on the way. */
export function createDirectory(db: Db, sealer: Sealer, log: Logger): Directory {
  const passwordKey = stationPasswordKey(sealer);

  return {
    tenant: (slug) => getTenantBySlug(db, slug),
    station: (tenantId, identity) => findStationCredentials(db, tenantId, identity),

    async checkPassword(station, password) {
      try {
        const { valid, upgrade } = await verifyStationPassword(password, station.passwordHash, passwordKey);
        if (upgrade) {
          upgradeStationPasswordHash(db, station.id, station.passwordHash, upgrade);
          log.info({ event: 'station.password_upgraded', stationId: station.id }, 'station password hash upgraded from scrypt to HMAC');
        }
        return valid;
      } catch (error) {
        if (error instanceof Busy) return 'busy';
        throw error;
      }
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
