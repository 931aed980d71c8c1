import { constants } from 'node:crypto';
import os from 'node:os';
import type { SecureContextOptions, TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import { certificatesOf, insertCertificate, updateCertificate } from '../../db/certificates.ts';
import type { Db } from '../../db/index.ts';
import type { Sealer } from '../auth/seal.ts';
import { sealContext } from '../directory.ts';
import { createSelfSigned } from './x509.ts';

/**
 * The cipher suites OCPP names (1.6 security whitepaper, 2.0.1 A00.FR.3xx): ECDHE with ECDSA or RSA and AES-GCM for
 * TLS 1.2, and TLS 1.3's own. TLS 1.2 at least; no compression.
 */
export const TLS_SETTINGS: TlsOptions = {
  minVersion: 'TLSv1.2',
  ciphers: [
    'TLS_AES_256_GCM_SHA384',
    'TLS_AES_128_GCM_SHA256',
    'TLS_CHACHA20_POLY1305_SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-RSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-RSA-AES128-GCM-SHA256',
  ].join(':'),
  honorCipherOrder: true,
  secureOptions: constants.SSL_OP_NO_COMPRESSION,
  // Profile 3 stations present a certificate; which CA it must chain to depends on the tenant, known only from the
  // path once the handshake is done, so the broker checks it itself before the upgrade (broker/client-certificate.ts).
  requestCert: true,
  rejectUnauthorized: false,
};

/** The names a self-signed certificate covers: this host's name, localhost and every address of the machine. */
function localNames(): { dns: string[]; ip: string[] } {
  const ip = Object.values(os.networkInterfaces())
    .flat()
    .flatMap((address) => (address ? [address.address.replace(/%.*$/, '')] : []));
  return { dns: [...new Set([os.hostname(), 'localhost'])], ip: [...new Set(['127.0.0.1', '::1', ...ip])] };
}

/** On first start, a self-signed certificate, so that wss:// works before the admin uploads one. */
export async function ensureServerCertificate(db: Db, sealer: Sealer, log: Logger): Promise<void> {
  if (certificatesOf(db, 'server', null).length > 0) return;
  const { certPem, keyPem } = await createSelfSigned(os.hostname(), localNames());
  const row = insertCertificate(db, { kind: 'server', tenantId: null, certificatePem: certPem, generated: true });
  updateCertificate(db, row.id, { keySealed: sealer.seal(keyPem, sealContext.privateKey(row.id)) });
  log.info({ event: 'tls.generated' }, 'generated a self-signed server certificate (download it from the certificates page)');
}

/** The server certificates (at most one RSA and one ECDSA) and their keys, for the TLS listener. */
export function serverCredentials(db: Db, sealer: Sealer): Pick<SecureContextOptions, 'cert' | 'key'> {
  const rows = certificatesOf(db, 'server', null).filter((row) => row.certificatePem && row.keySealed);
  return {
    cert: rows.map((row) => row.certificatePem!),
    key: rows.map((row) => sealer.open(row.keySealed!, sealContext.privateKey(row.id)).toString()),
  };
}
