import { TRPCError } from '@trpc/server';
import { z } from 'zod';
import { getTenant } from '../../db/tenants.ts';
import { adminProcedure, audit, router, viewerProcedure } from '../trpc.ts';
import { CloseReason } from '../../broker/close-codes.ts';

export const stationsRouter = router({
  /** The live links, newest first; optionally of one tenant. */
  list: viewerProcedure
    .input(z.object({ tenantId: z.number().int().positive().optional() }).optional())
    .query(({ ctx, input }) => ctx.broker.stations(input?.tenantId)),

  /** Closes the station link (1000) and its CPMS link. The station will usually reconnect. */
  disconnect: adminProcedure
    .input(z.object({ tenantId: z.number().int().positive(), identity: z.string().min(1) }))
    .mutation(({ ctx, input }) => {
      if (!ctx.broker.disconnect(input.tenantId, input.identity, CloseReason.DISCONNECTED_BY_ADMIN)) {
        throw new TRPCError({ code: 'NOT_FOUND', message: 'That station is not connected' });
      }
      const tenant = getTenant(ctx.db, input.tenantId);
      audit(ctx, 'station.disconnect', `station:${tenant?.slug}/${input.identity}`);
      return { disconnected: true };
    }),
});
