import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import {
  createTenant,
  getTenant,
  listTenants,
  removeTenant,
  updateTenant,
  type TenantView,
} from '../../db/tenants.ts';
import { badgesLongerThan } from '../../db/badges.ts';
import { badgeLimit, showBadge, tenantCreateSchema, tenantSecuritySchema, tenantUpdateSchema } from '../../contract/index.ts';
import { listStations } from '../../db/stations.ts';
import { TestBusyError } from '../cpms-test.ts';
import { pointsAtBroker } from '../own-host.ts';
import { adminProcedure, audit, audited, found as foundOr, router, viewerProcedure, type Context } from '../trpc.ts';
import { CloseReason } from '../../broker/close-codes.ts';

/** The identity a CPMS test uses when the tenant has no registered station. */
const TEST_IDENTITY = 'broker-test';

const byId = z.object({ id: z.number().int().positive() });

/** Settings whose change makes connected stations reconnect. */
const RECONNECT_ON = [
  'cpmsUrl',
  'stationProfile',
  'allowUnknownStations',
  'profile1OverTls',
  'organization',
  'cpmsProfile',
  'cpmsAuth',
] as const satisfies (keyof TenantView)[];

function withoutUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

const found = (tenant: TenantView | undefined) => foundOr(tenant, 'tenant');

/** BAD_REQUEST with a field error, as the form shows it. */
function fieldError(field: string, message: string): TRPCError {
  const issues = z.object({ [field]: z.never({ error: message }) }).safeParse({ [field]: true });
  return new TRPCError({ code: 'BAD_REQUEST', message, cause: issues.error });
}

/**
 * A CPMS URL that leads to the broker's own listeners would make every station connect the broker to itself, again
 * and again. Caught here by name and address; what this cannot know (DNS, port forwards) the broker refuses when
 * it happens (CPMS_LOOP, broker/upstream.ts).
 */
function refuseSelf(ctx: Context, cpmsUrl: string | undefined): void {
  const ports = [ctx.listening.port, ctx.listening.tlsPort].filter((port) => port > 0);
  if (cpmsUrl !== undefined && pointsAtBroker(cpmsUrl, ports, ctx.host)) {
    throw fieldError('cpmsUrl', 'This URL leads back to the broker itself: give the URL of the CPMS');
  }
}

export const tenantsRouter = router({
  list: viewerProcedure.query(({ ctx }) =>
    listTenants(ctx.db).map((tenant) => ({ ...tenant, stationsConnected: ctx.broker.count(tenant.id), cpms: ctx.connections.health(tenant.id) })),
  ),

  get: viewerProcedure.input(byId).query(({ ctx, input }) => found(getTenant(ctx.db, input.id))),

  /** The CPMS as the stations found it: last accepted station, last failure, and whether the last handshake failed. */
  health: viewerProcedure.input(byId).query(({ ctx, input }) => ctx.connections.health(found(getTenant(ctx.db, input.id)).id)),

  /**
   * A test handshake toward the tenant's CPMS, step by step, as the broker would open it for `identity` (default:
   * the first registered station, else "broker-test"); closed with 1000 right after. One at a time per tenant.
   */
  testCpms: adminProcedure
    .input(byId.extend({ identity: z.string().min(1).max(48).optional(), subprotocols: z.array(z.string().min(1).max(40)).max(5).optional() }))
    .mutation(async ({ ctx, input }) => {
      const tenant = found(getTenant(ctx.db, input.id));
      const identity = input.identity ?? listStations(ctx.db, tenant.id)[0]?.identity ?? TEST_IDENTITY;
      let result;
      try {
        result = await ctx.cpmsTester.run(tenant, identity, input.subprotocols);
      } catch (error) {
        if (error instanceof TestBusyError) throw new TRPCError({ code: 'CONFLICT', message: error.message });
        throw error;
      }
      const failed = result.steps.find((s) => !s.ok);
      audit(ctx, 'tenant.test_cpms', `tenant:${tenant.slug}`, {
        after: { identity, url: result.url, ok: result.ok, ...(failed && { failedStep: failed.step, detail: failed.detail }) },
      });
      return result;
    }),

  create: adminProcedure.input(tenantCreateSchema).mutation(({ ctx, input }) => {
    refuseSelf(ctx, input.cpmsUrl);
    return audited(ctx, input, () => {
      const tenant = createTenant(ctx.db, input);
      audit(ctx, 'tenant.create', `tenant:${tenant.slug}`, { after: tenant });
      return tenant;
    });
  }),

  /**
   * Disabling a tenant closes its station links (1000); a new CPMS URL or new security settings make them reconnect
   * (1012), to reach the new CPMS or authenticate anew.
   */
  update: adminProcedure.input(tenantUpdateSchema).mutation(({ ctx, input }) => {
    const before = found(getTenant(ctx.db, input.id));
    const merged = tenantSecuritySchema.safeParse({ ...before, ...withoutUndefined(input) });
    if (!merged.success) throw new TRPCError({ code: 'BAD_REQUEST', cause: merged.error });
    refuseSelf(ctx, input.cpmsUrl);
    if (input.ocppVersion !== undefined && input.ocppVersion !== before.ocppVersion) {
      const limit = badgeLimit(input.ocppVersion);
      const longer = badgesLongerThan(ctx.db, before.id, limit);
      if (longer.count > 0) {
        throw fieldError('ocppVersion', `${longer.count} badge(s) of the driver list are longer than ${limit} characters, e.g. ${showBadge(longer.example!)}: change them first`);
      }
    }
    const after = audited(ctx, input, () => {
      const after = found(updateTenant(ctx.db, input));
      audit(ctx, 'tenant.update', `tenant:${after.slug}`, { before, after });
      return after;
    });
    if (before.enabled && !after.enabled) {
      ctx.broker.disconnectTenant(after.id, CloseReason.TENANT_DISABLED);
    } else if (RECONNECT_ON.some((key) => before[key] !== after[key])) {
      ctx.broker.disconnectTenant(after.id, CloseReason.TENANT_SETTINGS_CHANGED);
    }
    if (before.smartCharging !== after.smartCharging) ctx.smart?.tenantChanged(after.id);
    return after;
  }),

  /** Refused while stations are connected, unless `force`, which closes their links first. */
  remove: adminProcedure
    .input(byId.extend({ force: z.boolean().default(false) }))
    .mutation(({ ctx, input }) => {
      const before = found(getTenant(ctx.db, input.id));
      const connected = ctx.broker.count(input.id);
      if (connected > 0 && !input.force) {
        throw new TRPCError({
          code: 'PRECONDITION_FAILED',
          message: `${connected} station(s) are connected; remove with force to disconnect them`,
        });
      }
      ctx.broker.disconnectTenant(input.id, CloseReason.TENANT_REMOVED);
      return audited(ctx, input, () => {
        removeTenant(ctx.db, input.id);
        audit(ctx, 'tenant.remove', `tenant:${before.slug}`, { before });
        return { id: input.id };
      });
    }),
});
