import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import {
  badgeOwners,
  createDriver,
  findDriverIdByEmail,
  getDriver,
  listDrivers,
  removeDriver,
  updateDriver,
  type DriverView,
} from '../../db/drivers.ts';
import { getTenant, type TenantView } from '../../db/tenants.ts';
import { BADGE_MAX_LENGTH, badgeLimit, driverCreateSchema, driverUpdateSchema, showBadge } from '../../contract/index.ts';
import { exportDriverCsv } from '../drivers/csv.ts';
import { driverImportJob, runningDriverImport, startDriverImport } from '../drivers/import.ts';
import { adminProcedure, audit, audited, found, router, viewerProcedure, type Context } from '../trpc.ts';

const byId = z.object({ id: z.number().int().positive() });
const byTenant = z.object({ tenantId: z.number().int().positive() });

/** About 650,000 drivers: far more than any list, small enough to hold in memory while it is checked. */
const CSV_MAX_CHARS = 32 * 1024 * 1024;

const target = (tenant: TenantView, email: string) => `driver:${tenant.slug}/${email}`;

/** Checks again with the tenant's own badge limit (inputs accept the longest of any OCPP version). */
function validFor<T>(schema: z.ZodType<T>, input: unknown): T {
  const parsed = schema.safeParse(input);
  if (!parsed.success) throw new TRPCError({ code: 'BAD_REQUEST', message: z.prettifyError(parsed.error), cause: parsed.error });
  return parsed.data;
}

function refuseConflicts(ctx: Context, tenantId: number, change: { email?: string; badgeIds?: string[] }, driverId?: number): void {
  if (change.email !== undefined) {
    const holder = findDriverIdByEmail(ctx.db, tenantId, change.email);
    if (holder !== undefined && holder !== driverId) {
      throw new TRPCError({ code: 'CONFLICT', message: `A driver with the email ${change.email} exists already` });
    }
  }
  const taken = badgeOwners(ctx.db, tenantId, change.badgeIds ?? [], driverId);
  if (taken.length > 0) {
    throw new TRPCError({
      code: 'CONFLICT',
      message: taken.map(({ badgeId, email }) => `Badge ${showBadge(badgeId)} belongs to ${email}`).join('; '),
    });
  }
}

/**
 * A tenant's drivers and their badges: one by one, or imported from and exported to the operators' CSV
 * (server/drivers/). An import runs as a background job: start it, then poll its status.
 */
export const driversRouter = router({
  /** A page by email; `search` finds part of an email or a badge, ignoring case. */
  list: viewerProcedure
    .input(
      byTenant.extend({
        search: z.string().trim().max(254).optional(),
        limit: z.number().int().min(1).max(500).default(50),
        offset: z.number().int().min(0).default(0),
      }),
    )
    .query(({ ctx, input }) => listDrivers(ctx.db, input)),

  get: viewerProcedure.input(byId).query(({ ctx, input }) => found(getDriver(ctx.db, input.id), 'driver')),

  /** CONFLICT when the email is taken or a badge belongs to another driver (the message names them). */
  create: adminProcedure.input(driverCreateSchema(BADGE_MAX_LENGTH)).mutation(({ ctx, input }) => {
    const tenant = found(getTenant(ctx.db, input.tenantId), 'tenant');
    const valid = validFor(driverCreateSchema(badgeLimit(tenant.ocppVersion)), input);
    return audited(ctx, input, () => {
      refuseConflicts(ctx, tenant.id, valid);
      const driver = createDriver(ctx.db, valid);
      audit(ctx, 'driver.create', target(tenant, driver.email), { after: driver });
      return driver;
    });
  }),

  /** Changes the email, replaces the badges, or blocks and unblocks. */
  update: adminProcedure.input(driverUpdateSchema(BADGE_MAX_LENGTH)).mutation(({ ctx, input }) => {
    const before = found(getDriver(ctx.db, input.id), 'driver');
    const tenant = found(getTenant(ctx.db, before.tenantId), 'tenant');
    const { id, ...changes } = validFor(driverUpdateSchema(badgeLimit(tenant.ocppVersion)), input);
    return audited(ctx, input, () => {
      refuseConflicts(ctx, tenant.id, changes, id);
      const after: DriverView = found(updateDriver(ctx.db, id, changes), 'driver');
      audit(ctx, 'driver.update', target(tenant, after.email), { before, after });
      return after;
    });
  }),

  remove: adminProcedure.input(byId).mutation(({ ctx, input }) => {
    const before = found(getDriver(ctx.db, input.id), 'driver');
    const tenant = found(getTenant(ctx.db, before.tenantId), 'tenant');
    return audited(ctx, input, () => {
      removeDriver(ctx.db, input.id);
      audit(ctx, 'driver.remove', target(tenant, before.email), { before });
      return { id: input.id };
    });
  }),

  /**
   * Starts checking (`dryRun`) or importing a CSV; poll `importStatus` with the job id. Send the file's bytes as
   * `csvBase64` so that the server can tell a file that is not UTF-8 (text cannot carry invalid UTF-8: a browser
   * decoding one would put U+FFFD in its place, which `csv` refuses as well). Nothing is written if any row is wrong.
   */
  importStart: adminProcedure
    .input(
      byTenant
        .extend({
          mode: z.enum(['merge', 'replace']),
          dryRun: z.boolean(),
          csv: z.string().max(CSV_MAX_CHARS, 'At most 32 MiB').optional(),
          csvBase64: z
            .string()
            .max(Math.ceil(CSV_MAX_CHARS / 3) * 4, 'At most 32 MiB')
            .regex(/^[A-Za-z0-9+/]*={0,2}$/, 'Not base64')
            .optional(),
        })
        .refine((input) => (input.csv === undefined) !== (input.csvBase64 === undefined), 'Send either csv or csvBase64'),
    )
    .mutation(({ ctx, input }) => {
      const tenant = found(getTenant(ctx.db, input.tenantId), 'tenant');
      const running = runningDriverImport(tenant.id);
      if (running) throw new TRPCError({ code: 'CONFLICT', message: `An import into ${tenant.name} is running (job ${running.id})` });
      const job = startDriverImport(ctx.db, {
        tenantId: tenant.id,
        csv: input.csv !== undefined ? { text: input.csv } : { bytes: Buffer.from(input.csvBase64!, 'base64') },
        mode: input.mode,
        dryRun: input.dryRun,
        maxBadgeLength: badgeLimit(tenant.ocppVersion),
        // The counts only: the list itself stays out of the audit log.
        onApplied: (result) =>
          audit(ctx, 'driver.import', `tenant:${tenant.slug}`, {
            after: {
              mode: result.mode,
              added: result.added.count,
              changed: result.changed.count,
              removed: result.removed.count,
              unchanged: result.unchanged.count,
            },
          }),
        onFailed: (error) => ctx.log.error({ err: error, tenant: tenant.slug }, 'Driver import failed'),
      });
      return { jobId: job.id };
    }),

  /** The job's phase and progress; when done, what was (or would be) added, changed and removed, and every error. */
  importStatus: viewerProcedure
    .input(z.object({ jobId: z.uuid() }))
    .query(({ input }) => found(driverImportJob(input.jobId), 'import (finished imports are kept for 10 minutes)')),

  /** The list as CSV, in the format imports take: `email,badge_ids`. */
  export: viewerProcedure.input(byTenant).query(async ({ ctx, input }) => {
    found(getTenant(ctx.db, input.tenantId), 'tenant');
    return exportDriverCsv(ctx.db, input.tenantId);
  }),
});
