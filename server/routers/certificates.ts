import { X509Certificate } from 'node:crypto';
import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import {
  certificatesOf,
  getCertificate,
  insertCertificate,
  listCertificates,
  removeCertificate,
  updateCertificate,
} from '../../db/certificates.ts';
import type { Db } from '../../db/index.ts';
import type { Certificate } from '../../db/schema.ts';
import { getStation } from '../../db/stations.ts';
import { getTenant } from '../../db/tenants.ts';
import { sealContext } from '../directory.ts';
import { CertificateError, checkChain, createCsr, distinguishedName, facts, keyTypeOf, requestFacts } from '../tls/x509.ts';
import { adminProcedure, audit, audited, found, router, viewerProcedure, type Context } from '../trpc.ts';
import { CloseReason } from '../../broker/close-codes.ts';

/** Certificates that expire within this long stand out on the certificates page. */
const EXPIRY_WARNING_MS = 30 * 24 * 60 * 60_000;

const byId = z.object({ id: z.number().int().positive() });
const pem = z.string().trim().min(1, 'Required').max(200_000, 'Too long for a certificate');
const owner = z.object({ tenantId: z.number().int().positive(), stationId: z.number().int().positive().optional() });

/** What the page shows of a row: public facts only. A private key is only ever "present". */
function view(db: Db, row: Certificate) {
  const leaf = row.certificatePem ? facts(new X509Certificate(row.certificatePem)) : null;
  return {
    id: row.id,
    kind: row.kind,
    tenantId: row.tenantId,
    stationId: row.stationId,
    usedBy: usedBy(db, row),
    generated: row.generated,
    hasKey: row.keySealed !== null,
    csrPending: row.csrPem !== null && row.certificatePem === null,
    /** What a pending request asks for (subject, key type). */
    request: row.csrPem !== null && row.certificatePem === null ? requestFacts(row.csrPem) : null,
    certificate: leaf,
    chainLength: row.certificatePem?.match(/BEGIN CERTIFICATE/g)?.length ?? 0,
    expiresSoon: leaf !== null && leaf.notAfter.getTime() - Date.now() < EXPIRY_WARNING_MS,
    createdAt: row.createdAt,
  };
}

function usedBy(db: Db, row: Certificate): string {
  const tenant = row.tenantId === null ? undefined : getTenant(db, row.tenantId)?.name;
  const station = row.stationId === null ? undefined : getStation(db, row.stationId)?.identity;
  switch (row.kind) {
    case 'server':
      return `The broker's TLS listener (wss:// and https://)${row.generated ? ', self-signed' : ''}`;
    case 'station-ca':
      return `${tenant}: CA that station certificates must chain to (profile 3)`;
    case 'cpms-ca':
      return `${tenant}: CA the CPMS server certificate must chain to`;
    case 'cpms-client':
      return `${tenant}: the broker's client certificate toward the CPMS${station ? ` for ${station}` : ''} (profile 3)`;
  }
}

/** Runs a check whose CertificateError is the admin's to fix: a BAD_REQUEST with its message. */
function checked<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (error instanceof CertificateError) throw new TRPCError({ code: 'BAD_REQUEST', message: error.message });
    throw error;
  }
}

/** A BAD_REQUEST whose message belongs under one field of the upload form (`data.fieldErrors`). */
function fieldError(field: string, message: string): TRPCError {
  // An error of zod's own parsing: the error formatter turns it into `fieldErrors`.
  const cause = z.object({ [field]: z.never({ error: message }) }).safeParse({ [field]: true }).error;
  return new TRPCError({ code: 'BAD_REQUEST', message, cause });
}

/**
 * Trust anchors must be CAs (RFC 5280 §4.2.1.9: basicConstraints cA TRUE). A server or client certificate uploaded
 * in their place would be taken as a root by TLS and trust nothing it issued, so the admin hears of it now.
 */
function checkAreCas(chain: X509Certificate[]): void {
  for (const [i, cert] of chain.entries()) {
    if (!cert.ca) {
      const which = chain.length === 1 ? 'This certificate' : `Certificate ${i + 1}`;
      throw fieldError(
        'certificatePem',
        `${which} (${facts(cert).subject}) is not a CA (its basic constraints lack CA:TRUE): upload the CA that issued it, not a server or client certificate`,
      );
    }
  }
}

function checkOwner(ctx: Context, input: { tenantId: number; stationId?: number }): void {
  found(getTenant(ctx.db, input.tenantId), 'tenant');
  if (input.stationId !== undefined && getStation(ctx.db, input.stationId)?.tenantId !== input.tenantId) {
    throw new TRPCError({ code: 'NOT_FOUND', message: 'No such station in this tenant' });
  }
}

/** Stores a certificate with its private key sealed under the row's own context. */
function insertWithKey(ctx: Context, row: Omit<Parameters<typeof insertCertificate>[1], 'keySealed'>, keyPem: string): Certificate {
  return ctx.db.transaction(() => {
    const inserted = insertCertificate(ctx.db, row);
    updateCertificate(ctx.db, inserted.id, { keySealed: ctx.sealer.seal(keyPem, sealContext.privateKey(inserted.id)) });
    return getCertificate(ctx.db, inserted.id)!;
  });
}

export const certificatesRouter = router({
  list: viewerProcedure.query(({ ctx }) => listCertificates(ctx.db).map((row) => view(ctx.db, row))),

  /** The broker's server certificates as PEM, to install on stations (public by nature). */
  serverPem: viewerProcedure.query(({ ctx }) =>
    certificatesOf(ctx.db, 'server', null)
      .map((row) => row.certificatePem ?? '')
      .join(''),
  ),

  /** The broker's own certificate chain and key; replaces the one of the same key type and the generated one. */
  uploadServer: adminProcedure.input(z.object({ certificatePem: pem, keyPem: pem })).mutation(({ ctx, input }) => {
    const { chain, key } = checked(() => checkChain(input.certificatePem, input.keyPem));
    const keyType = keyTypeOf(key!);
    if (keyType === 'other') throw new TRPCError({ code: 'BAD_REQUEST', message: 'Only RSA and ECDSA keys are supported' });
    const shown = audited(ctx, input, () => {
      for (const old of certificatesOf(ctx.db, 'server', null)) {
        if (old.generated || (old.certificatePem && keyTypeOf(new X509Certificate(old.certificatePem).publicKey) === keyType)) {
          removeCertificate(ctx.db, old.id);
        }
      }
      const row = insertWithKey(ctx, { kind: 'server', tenantId: null, certificatePem: chain.map((c) => c.toString()).join('') }, input.keyPem);
      const shown = view(ctx.db, row);
      audit(ctx, 'certificate.upload', `certificate:${row.id}`, { after: shown });
      return shown;
    });
    ctx.reloadServerCertificate();
    return shown;
  }),

  /** Trusted roots for a tenant: for station certificates (profile 3) or for the CPMS server certificate. */
  uploadCa: adminProcedure
    .input(z.object({ tenantId: z.number().int().positive(), kind: z.enum(['station-ca', 'cpms-ca']), certificatePem: pem }))
    .mutation(({ ctx, input }) => {
      checkOwner(ctx, input);
      const { chain } = checked(() => checkChain(input.certificatePem));
      checkAreCas(chain);
      const shown = audited(ctx, input, () => {
        const rows = chain.map((cert) => insertCertificate(ctx.db, { kind: input.kind, tenantId: input.tenantId, certificatePem: cert.toString() }));
        const shown = rows.map((row) => view(ctx.db, row));
        for (const item of shown) audit(ctx, 'certificate.upload', `certificate:${item.id}`, { after: item });
        return shown;
      });
      ctx.broker.disconnectTenant(input.tenantId, CloseReason.TENANT_CERTIFICATES_CHANGED);
      return shown;
    }),

  /** The broker's client certificate and key toward the CPMS (profile 3), for a tenant or one of its stations. */
  uploadClient: adminProcedure
    .input(owner.extend({ certificatePem: pem, keyPem: pem }))
    .mutation(({ ctx, input }) => {
      checkOwner(ctx, input);
      const { chain } = checked(() => checkChain(input.certificatePem, input.keyPem));
      return audited(ctx, input, () => {
        const row = insertWithKey(
          ctx,
          { kind: 'cpms-client', tenantId: input.tenantId, stationId: input.stationId ?? null, certificatePem: chain.map((c) => c.toString()).join('') },
          input.keyPem,
        );
        const shown = view(ctx.db, row);
        audit(ctx, 'certificate.upload', `certificate:${row.id}`, { after: shown });
        return shown;
      });
    }),

  /**
   * A new key pair made by the broker, and its certificate signing request for the operator's CA. The key stays
   * sealed in the broker; import the signed certificate with `importSigned`.
   */
  createCsr: adminProcedure
    .input(
      owner.extend({
        keyType: z.enum(['rsa', 'ecdsa']).default('rsa'),
        commonName: z.string().trim().min(1).max(64).optional(),
        organization: z.string().trim().max(64).optional(),
      }),
    )
    .mutation(async ({ ctx, input }) => {
      checkOwner(ctx, input);
      const tenant = getTenant(ctx.db, input.tenantId)!;
      const station = input.stationId === undefined ? undefined : getStation(ctx.db, input.stationId);
      const commonName = input.commonName ?? station?.identity ?? tenant.slug;
      const subject = distinguishedName({ commonName, organization: input.organization ?? tenant.organization });
      const { keyPem, csrPem } = await createCsr(input.keyType, subject);
      return audited(ctx, input, () => {
        const row = insertWithKey(ctx, { kind: 'cpms-client', tenantId: tenant.id, stationId: station?.id ?? null, csrPem }, keyPem);
        audit(ctx, 'certificate.csr', `certificate:${row.id}`, { after: { subject, keyType: input.keyType } });
        return { id: row.id, csrPem };
      });
    }),

  csr: viewerProcedure.input(byId).query(({ ctx, input }) => {
    return found(getCertificate(ctx.db, input.id)?.csrPem ?? undefined, 'certificate request');
  }),

  /** The certificate the operator's CA signed for a CSR made here: it must match the key kept for it. */
  importSigned: adminProcedure.input(byId.extend({ certificatePem: pem })).mutation(({ ctx, input }) => {
    const row = getCertificate(ctx.db, input.id);
    if (!row?.csrPem || !row.keySealed || row.certificatePem) {
      throw new TRPCError({ code: 'NOT_FOUND', message: 'No certificate request waits for this certificate' });
    }
    const keyPem = ctx.sealer.open(row.keySealed, sealContext.privateKey(row.id)).toString();
    const { chain } = checked(() => {
      try {
        return checkChain(input.certificatePem, keyPem);
      } catch (error) {
        if (error instanceof CertificateError && error.message.startsWith('The private key')) {
          throw new CertificateError('This certificate was not issued for the key of this request');
        }
        throw error;
      }
    });
    return audited(ctx, input, () => {
      updateCertificate(ctx.db, row.id, { certificatePem: chain.map((c) => c.toString()).join('') });
      const shown = view(ctx.db, getCertificate(ctx.db, row.id)!);
      audit(ctx, 'certificate.import', `certificate:${row.id}`, { after: shown });
      return shown;
    });
  }),

  remove: adminProcedure.input(byId).mutation(({ ctx, input }) => {
    const row = found(getCertificate(ctx.db, input.id), 'certificate');
    if (row.kind === 'server' && certificatesOf(ctx.db, 'server', null).length === 1) {
      throw new TRPCError({ code: 'PRECONDITION_FAILED', message: 'The TLS listener needs a certificate: upload another one first' });
    }
    audited(ctx, input, () => {
      const before = view(ctx.db, row);
      removeCertificate(ctx.db, row.id);
      audit(ctx, 'certificate.remove', `certificate:${row.id}`, { before });
    });
    if (row.kind === 'server') ctx.reloadServerCertificate();
    return { id: row.id };
  }),
});
