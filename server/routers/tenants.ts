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
import { tenantCreateSchema, tenantUpdateSchema } from '../../db/validation.ts';
import { adminProcedure, audit, router, viewerProcedure } from '../trpc.ts';

const byId = z.object({ id: z.number().int().positive() });

function found(tenant: TenantView | undefined): TenantView {
  if (!tenant) throw new TRPCError({ code: 'NOT_FOUND', message: 'No such tenant' });
  return tenant;
}

export const tenantsRouter = router({
  list: viewerProcedure.query(({ ctx }) =>
    listTenants(ctx.db).map((tenant) => ({ ...tenant, stationsConnected: ctx.broker.count(tenant.id) })),
  ),

  get: viewerProcedure.input(byId).query(({ ctx, input }) => found(getTenant(ctx.db, input.id))),

  create: adminProcedure.input(tenantCreateSchema).mutation(({ ctx, input }) => {
    try {
      const tenant = createTenant(ctx.db, input);
      audit(ctx, 'tenant.create', `tenant:${tenant.slug}`, { after: tenant });
      return tenant;
    } catch (error) {
      if ((error as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') {
        throw new TRPCError({ code: 'CONFLICT', message: `The slug "${input.slug}" is taken` });
      }
      throw error;
    }
  }),

  /** Disabling a tenant closes its station links; a new CPMS URL makes them reconnect (1012) to reach it. */
  update: adminProcedure.input(tenantUpdateSchema).mutation(({ ctx, input }) => {
    const before = found(getTenant(ctx.db, input.id));
    const after = found(updateTenant(ctx.db, input));
    audit(ctx, 'tenant.update', `tenant:${after.slug}`, { before, after });
    if (before.enabled && !after.enabled) {
      ctx.broker.disconnectTenant(after.id, 1000, 'Tenant disabled');
    } else if (before.cpmsUrl !== after.cpmsUrl) {
      ctx.broker.disconnectTenant(after.id, 1012, 'CPMS URL changed');
    }
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
      ctx.broker.disconnectTenant(input.id, 1000, 'Tenant removed');
      removeTenant(ctx.db, input.id);
      audit(ctx, 'tenant.remove', `tenant:${before.slug}`, { before });
      return { id: input.id };
    }),
});
